// Pure formatting of the audit: table rows for the log and the step summary, the run's failure
// message, and the GitHub issue's title and body (Markdown, every cell escaped like the summary's).
import { describeInstance } from '../manifest/instance.ts';
import type { ManifestInstance } from '../manifest/instance.ts';
import { htmlEscape } from '../util/escape.ts';
import { classOf, failing, issueMarker } from './model.ts';
import type { AuditSection } from './model.ts';

export const AUDIT_HEADER = ['Kind', 'Class', 'Object', 'What', 'Fix'];

export function auditRows(a: AuditSection): string[][] {
  return a.findings.map((f) => [f.kind, classOf(f), f.object, f.message, f.fix]);
}

/** `3 findings (2 drift, 1 expiry)` or `no findings`. */
export function auditCounts(a: AuditSection): string {
  const n = a.findings.length;
  return n ? `${n} finding${n === 1 ? '' : 's'} (${a.counts.drift} drift, ${a.counts.expiry} expiry)` : 'no findings';
}

export function auditHeadline(a: AuditSection): string {
  return a.findings.length ? `🔎 audit: ${auditCounts(a)} (nothing was written)` : '✅ audit: no drift and nothing expiring (nothing was written)';
}

/** The step's error when the findings fail it under `fail-on`: the kinds and objects, first few. */
export function auditFailure(a: AuditSection): string {
  const bad = failing(a.findings, a.failOn);
  const shown = bad.slice(0, 5).map((f) => `${f.kind} ${f.object}`);
  return `audit: ${auditCounts(a)}; fail-on: ${a.failOn} fails on ${bad.length}: ${shown.join(', ')}${bad.length > shown.length ? ', …' : ''}`;
}

/** Rows in the issue body at most (GitHub caps a body at 65,536 characters). */
export const ISSUE_MAX_ROWS = 200;

export function issueTitle(instance: ManifestInstance, a: AuditSection): string {
  return `akv-aks audit: ${auditCounts(a)} for ${describeInstance(instance)}`;
}

/** The issue's body: the hidden marker, a line of context, then the findings' table (escaped). */
/** Without the time or the run: the same findings give the same body, and the issue is not rewritten. */
export function issueBody(instance: ManifestInstance, a: AuditSection, context: { manifest: string; vault: string }): string {
  const cell = (s: string): string => htmlEscape(s, 500);
  const lines = [
    issueMarker(instance.key),
    `Audit of ${cell(context.manifest)} (${cell(describeInstance(instance))}, vault ${cell(context.vault)}): ${auditCounts(a)}. Written by akv-aks-action \`mode: audit\`; the latest run's step summary has the details.`,
    '',
  ];
  if (!a.findings.length) return [...lines, 'Nothing to report: this issue is closed until the next finding.'].join('\n');
  lines.push(`| ${AUDIT_HEADER.join(' | ')} |`, `|${AUDIT_HEADER.map(() => ' --- |').join('')}`);
  for (const r of auditRows(a).slice(0, ISSUE_MAX_ROWS)) lines.push(`| ${r.map(cell).join(' | ')} |`);
  if (a.findings.length > ISSUE_MAX_ROWS) lines.push('', `…and ${a.findings.length - ISSUE_MAX_ROWS} more (the run's \`audit\` output lists every finding).`);
  if (a.skipped.length) lines.push('', `Not checked: ${a.skipped.map(cell).join('; ')}`);
  return lines.join('\n');
}
