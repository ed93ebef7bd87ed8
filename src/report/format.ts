// Pure formatting of a RunReport: plain-text lines for the log and table rows for the step summary.
import { auditHeadline } from '../audit/format.ts';
import type { PlanAction, PlanItem } from '../plan/types.ts';
import { logSafe } from '../util/escape.ts';
import { pad, textTable } from '../util/table.ts';
import type { GatePodRow, RunReport } from './model.ts';

const SYMBOL: Record<PlanAction, string> = {
  create: '+',
  update: '~',
  unchanged: '=',
  recover: '^',
  adopt: '&',
  refuse: '!',
  prune: '-',
  keep: '.',
  restart: '@',
  delete: '-',
};

/** `3 create, 1 update, 12 unchanged`, in a stable order of actions. */
export function countByAction(items: readonly PlanItem[]): string {
  const counts = new Map<PlanAction, number>();
  for (const i of items) counts.set(i.action, (counts.get(i.action) ?? 0) + 1);
  const order = Object.keys(SYMBOL) as PlanAction[];
  const parts = order.filter((a) => counts.has(a)).map((a) => `${counts.get(a)} ${a}`);
  return parts.length ? parts.join(', ') : 'nothing to do';
}

/** One aligned line per plan item, grouped in the order the items were produced (names and reasons made inert). */
export function planLines(items: readonly PlanItem[]): string[] {
  if (!items.length) return [];
  const kindW = Math.max(4, ...items.map((i) => i.kind.length));
  const names = items.map((i) => logSafe(displayName(i)));
  const nameW = Math.max(4, ...names.map((n) => n.length));
  const actW = Math.max(6, ...items.map((i) => i.action.length));
  return items.map((i, n) => `${SYMBOL[i.action]} ${pad(i.action, actW)}  ${pad(i.kind, kindW)}  ${pad(names[n]!, nameW)}${i.reason ? `  ${logSafe(i.reason, 1_000)}` : ''}`.trimEnd());
}

/** Items shown one per row (log and summary): everything but `unchanged`, which is shown as counts. */
export function shownItems(items: readonly PlanItem[]): PlanItem[] {
  return items.filter((i) => i.action !== 'unchanged');
}

/** Unchanged items counted per kind, most first: `[['secret', 5000], ['federated-credential', 100]]`. */
export function unchangedByKind(items: readonly PlanItem[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const i of items) if (i.action === 'unchanged') counts.set(i.kind, (counts.get(i.kind) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

/** `5000 secret, 100 federated-credential` (empty when nothing is unchanged). */
export function unchangedText(items: readonly PlanItem[]): string {
  return unchangedByKind(items)
    .map(([kind, n]) => `${n} ${kind}`)
    .join(', ');
}

/**
 * The log of a step's plan at any scale: one line per change, refusal or kept item, and the
 * unchanged ones as one line of counts per kind (a no-op of 5,000 secrets logs one line, not 5,000).
 */
export function planLogLines(items: readonly PlanItem[]): string[] {
  const lines = planLines(shownItems(items));
  const same = unchangedText(items);
  if (same) lines.push(`${SYMBOL.unchanged} unchanged: ${same}`);
  return lines;
}

/** At most this many plan rows in the step summary (GitHub caps it at 1 MiB; the `report` output has every item). */
export const SUMMARY_MAX_ROWS = 300;

export function displayName(i: PlanItem): string {
  if (i.kind === 'namespace') return i.name;
  return i.namespace && !i.name.startsWith(`${i.namespace}/`) ? `${i.namespace}/${i.name}` : i.name;
}

export function planRows(items: readonly PlanItem[]): string[][] {
  return items.map((i) => [i.action, i.kind, displayName(i), i.reason ?? '']);
}

function short(version: string | undefined): string {
  if (!version) return '—';
  return version.length > 12 ? `${version.slice(0, 12)}…` : version;
}

/** One row per pod and object: pod, node, object, expected, mounted, status, last event. */
export function gateRows(pods: readonly GatePodRow[]): string[][] {
  const rows: string[][] = [];
  for (const p of pods) {
    // A pod that is not ready shows its phase on every row; a ready one, each object's verdict.
    const status = (ok: boolean): string => (!p.ready ? p.phase : ok ? 'ok' : 'mismatch');
    if (!p.objects.length) rows.push([`${p.namespace}/${p.pod}`, p.node ?? '—', '—', '—', '—', status(p.ok), p.lastEvent ?? '']);
    for (const o of p.objects) {
      rows.push([`${p.namespace}/${p.pod}`, p.node ?? '—', o.object, short(o.expected), short(o.mounted), status(o.ok), p.lastEvent ?? '']);
    }
  }
  return rows;
}

/** Ready pods listed one per row (log and summary) up to this many; beyond, only their count. */
export const GATE_MAX_OK_PODS = 50;

/** The pods to list one per row: those not ok, and the ok ones while they are few. */
export function listedPods<T extends { ok: boolean }>(pods: readonly T[]): { listed: T[]; okNotListed: number } {
  const good = pods.filter((p) => p.ok);
  const bad = pods.filter((p) => !p.ok);
  return good.length <= GATE_MAX_OK_PODS ? { listed: [...bad, ...good], okNotListed: 0 } : { listed: bad, okNotListed: good.length };
}

/** The gate's log: a table of the listed pods and a count of the ok ones not listed. */
export function gateLogLines(pods: readonly GatePodRow[]): string[] {
  const { listed, okNotListed } = listedPods(pods);
  const lines = listed.length ? textTable(GATE_HEADER, gateRows(listed)) : [];
  if (okNotListed) lines.push(`${okNotListed} pods mounted the expected versions`);
  return lines;
}

/** Fixed-width text table for the log; every cell made inert (aliases, pod names, events come from outside). */
export const PLAN_HEADER = ['Action', 'Kind', 'Name', 'Reason'];
export const GATE_HEADER = ['Pod', 'Node', 'Object', 'Expected', 'Mounted', 'Status', 'Last event'];

/** One-line outcome for the top of the summary. */
export function headline(r: RunReport): string {
  if (r.error) return `❌ ${r.mode} failed: ${r.error.split('\n')[0]}`;
  if (r.audit && r.mode === 'audit') return auditHeadline(r.audit);
  if (r.mode === 'plan') return `📝 plan: ${countByAction(r.plan)} (nothing was written)`;
  if (r.gate && !r.gate.passed) return `❌ ${r.mode}: the gate failed`;
  if (r.gate?.passed) return `✅ ${r.mode}: pods mounted the expected versions`;
  return `✅ ${r.mode}: ${countByAction(r.plan)}`;
}
