// Publishes a RunReport through the runner: step outputs, the step summary (tables) and
// annotations for each diagnosis. Values never reach here: the report is value-free by type.
import * as runner from '../runner/index.ts';
import type { Summary } from '../runner/index.ts';
import { formatDuration } from '../util/duration.ts';
import { htmlEscape, htmlEscapeLines, logSafe, logSafeLines } from '../util/escape.ts';
import { countByAction, GATE_HEADER, gateRows, headline, listedPods, PLAN_HEADER, planRows, shownItems, SUMMARY_MAX_ROWS, unchangedByKind } from './format.ts';
import type { RunReport } from './model.ts';
import { AUDIT_HEADER, auditCounts, auditRows } from '../audit/format.ts';
import { failing as failingFindings } from '../audit/model.ts';
import type { AuditSection } from '../audit/model.ts';
import { OUTPUT } from '../names.ts';

export function setOutputs(r: RunReport): void {
  const changed = r.secrets.filter((s) => s.changed).map((s) => s.name);
  runner.setOutput(OUTPUT.changedSecrets, JSON.stringify(changed));
  runner.setOutput(OUTPUT.restartedWorkloads, JSON.stringify(r.restarted.map((w) => `${w.kind}/${w.namespace}/${w.name}`)));
  runner.setOutput(OUTPUT.verified, String(r.verified));
  runner.setOutput(OUTPUT.report, JSON.stringify(r));
  if (r.audit) runner.setOutput(OUTPUT.audit, JSON.stringify(r.audit));
}

export function annotateDiagnoses(r: RunReport): void {
  for (const d of r.gate?.diagnoses ?? []) {
    const where = d.pod ? `${d.namespace}/${d.pod}` : (d.namespace ?? '');
    runner.error(logSafeLines(`${d.message}\nFix: ${d.fix}`), { title: logSafe(`akv-aks: ${d.cause}${where ? ` (${where})` : ''}`) });
  }
  for (const w of r.warnings) runner.warning(logSafeLines(w), { title: 'akv-aks' });
  annotateFindings(r);
}

/** At most this many findings become annotations (the summary and the `audit` output have all). */
export const MAX_FINDING_ANNOTATIONS = 50;

/** One annotation per finding of `mode: audit` (plan shows them in its summary only): an error when it fails the step, else a warning. */
function annotateFindings(r: RunReport): void {
  if (!r.audit || r.mode !== 'audit') return;
  const failing = new Set(failingFindings(r.audit.findings, r.audit.failOn));
  for (const f of r.audit.findings.slice(0, MAX_FINDING_ANNOTATIONS)) {
    const annotate = failing.has(f) ? runner.error : runner.warning;
    annotate(logSafeLines(`${f.message}\nFix: ${f.fix}`), { title: logSafe(`akv-aks audit: ${f.kind} (${f.object})`) });
  }
}

function writeAudit(s: Summary, a: AuditSection): void {
  s.addHeading(`Audit: ${auditCounts(a)}`, 3);
  if (a.findings.length) s.addTable([header(AUDIT_HEADER), ...cells(auditRows(a).slice(0, SUMMARY_MAX_ROWS))]);
  if (a.findings.length > SUMMARY_MAX_ROWS) s.addRaw(`…and ${a.findings.length - SUMMARY_MAX_ROWS} more (the \`audit\` output lists every finding)`, true);
  if (a.skipped.length) s.addHeading('Not checked', 4).addList(a.skipped.map((x) => htmlEscape(x)));
  const i = a.issue;
  if (i && i.action !== 'none') s.addRaw(`\n\nIssue ${i.number ? `#${i.number}` : ''}: ${htmlEscape(i.action)}${i.url ? ` (${htmlEscape(i.url)})` : ''}\n`, true);
}

const header = (cells: string[]): Array<{ data: string; header: true }> => cells.map((data) => ({ data, header: true }));
/** Table rows for the summary: every cell HTML-escaped (runner.summary inserts cells as raw HTML). */
const cells = (rows: string[][]): string[][] => rows.map((r) => r.map((c) => htmlEscape(c)));
const code = (text: string): string => `<code>${htmlEscape(text)}</code>`;

export async function writeSummary(r: RunReport): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return; // outside a runner
  const s = runner.summary.addHeading('Key Vault → AKS secrets', 2).addRaw(htmlEscape(headline(r)), true);
  const facts: string[] = [`mode ${code(r.mode)}`, `manifest ${code(r.manifest)}`];
  if (r.vault) facts.push(`vault ${code(r.vault.name)}${r.vault.authorization ? ` (${r.vault.authorization})` : ''}`);
  if (r.cluster?.context) facts.push(`cluster context ${code(r.cluster.context)}`);
  if (r.durationMs !== undefined) facts.push(`took ${formatDuration(r.durationMs)}`);
  s.addRaw(`\n\n${facts.join(' · ')}\n`, true);
  if (r.plan.length) {
    // Changes, refusals and kept items as rows; the unchanged as counts, collapsed (a no-op at
    // 5,000 secrets x 100 namespaces stays a few hundred bytes).
    s.addHeading(r.mode === 'plan' ? `Plan: ${countByAction(r.plan)}` : `Changes: ${countByAction(r.plan)}`, 3);
    const shown = shownItems(r.plan);
    if (shown.length) s.addTable([header(PLAN_HEADER), ...cells(planRows(shown.slice(0, SUMMARY_MAX_ROWS)))]);
    if (shown.length > SUMMARY_MAX_ROWS) s.addRaw(`…and ${shown.length - SUMMARY_MAX_ROWS} more (the \`report\` output lists every item)`, true);
    const same = unchangedByKind(r.plan);
    if (same.length) {
      const total = same.reduce((n, [, c]) => n + c, 0);
      const rows = same.map(([kind, n]) => `<tr><td>${htmlEscape(kind)}</td><td>${n}</td></tr>`).join('');
      s.addDetails(`${total} unchanged`, `\n\n<table><tr><th>Kind</th><th>Unchanged</th></tr>${rows}</table>\n`);
    }
  }
  if (r.restarted.length) {
    s.addHeading('Restarted workloads', 3);
    s.addTable([header(['Workload', 'Reason']), ...cells(r.restarted.map((w) => [`${w.kind} ${w.namespace}/${w.name}`, w.reason]))]);
  }
  if (r.gate) {
    s.addHeading(`Gate: ${r.gate.passed ? 'passed' : 'failed'} after ${formatDuration(r.gate.waitedMs)}`, 3);
    const { listed, okNotListed } = listedPods(r.gate.pods);
    if (listed.length) s.addTable([header(GATE_HEADER), ...cells(gateRows(listed.slice(0, SUMMARY_MAX_ROWS)))]);
    if (okNotListed) s.addRaw(`${okNotListed} pods mounted the expected versions`, true);
    if (r.gate.diagnoses.length) {
      s.addHeading('Diagnosis', 4);
      s.addTable([header(['Cause', 'Where', 'What happened', 'Fix']), ...cells(r.gate.diagnoses.map((d) => [d.cause, d.pod ? `${d.namespace}/${d.pod}` : (d.namespace ?? ''), d.message, d.fix]))]);
    }
  }
  if (r.audit) writeAudit(s, r.audit);
  if (r.warnings.length) s.addHeading('Warnings', 3).addList(r.warnings.map((w) => htmlEscape(w)));
  if (r.error) s.addHeading('Error', 3).addCodeBlock(htmlEscapeLines(r.error));
  await s.write();
}
