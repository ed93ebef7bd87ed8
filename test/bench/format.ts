// Pure helpers of the benchmark: argument parsing, stats arithmetic, verdicts and the text table.
// No I/O here (unit-tested in test/unit/bench/format.test.ts).

export interface BenchArgs {
  quick: boolean;
  /** Secrets of the first-sync and no-op scenarios. */
  secrets: number;
  /** Namespaces (targets, one identity each) of the no-op scenario. */
  namespaces: number;
  /** Namespaces with a workload in the gate scenario. */
  gateNamespaces: number;
  /** Gate measurements (each a fresh rollout). */
  gateRounds: number;
  /** Pods of each gate round, spread over the gate namespaces. */
  gatePods: number;
  /** The scale no-op through the bundle: secrets x namespaces (0 secrets: skipped). */
  scaleSecrets: number;
  scaleNamespaces: number;
  /** Secrets of the small manifest whose no-op is measured in the scale vault (0: skipped). */
  smallSecrets: number;
  /** Spawns of `node dist/index.js` for the start-up measurement. */
  startRuns: number;
  /** Extra per-request vault latency (ms) of the "region round trip" first-sync variant; 0 = skip it. */
  latencyMs: number;
  /** Secrets of that variant. */
  latencySecrets: number;
  /** Leave the bench's vaults, namespaces and identities in place. */
  keep: boolean;
  /** Also write the results as Markdown (table, notes, machine) to this file. */
  markdown?: string;
}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const quick = argv.includes('--quick');
  const args: BenchArgs = quick
    ? {
        quick,
        secrets: 60,
        namespaces: 4,
        gateNamespaces: 1,
        gateRounds: 1,
        gatePods: 2,
        scaleSecrets: 200,
        scaleNamespaces: 5,
        smallSecrets: 10,
        startRuns: 3,
        latencyMs: 0,
        latencySecrets: 0,
        keep: false,
      }
    : {
        quick,
        secrets: 500,
        namespaces: 20,
        gateNamespaces: 20,
        gateRounds: 3,
        gatePods: 200,
        scaleSecrets: 5000,
        scaleNamespaces: 100,
        smallSecrets: 10,
        startRuns: 5,
        latencyMs: 100,
        latencySecrets: 500,
        keep: false,
      };
  const numeric: Record<string, keyof BenchArgs> = {
    '--secrets': 'secrets',
    '--namespaces': 'namespaces',
    '--gate-namespaces': 'gateNamespaces',
    '--gate-rounds': 'gateRounds',
    '--gate-pods': 'gatePods',
    '--scale-secrets': 'scaleSecrets',
    '--scale-namespaces': 'scaleNamespaces',
    '--small-secrets': 'smallSecrets',
    '--start-runs': 'startRuns',
    '--latency-ms': 'latencyMs',
    '--latency-secrets': 'latencySecrets',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--quick') continue;
    if (a === '--keep') {
      args.keep = true;
      continue;
    }
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    if (flag === '--markdown') {
      const file = inline ?? argv[++i];
      if (!file || file.startsWith('--')) throw new Error('--markdown needs a file path');
      args.markdown = file;
      continue;
    }
    const key = numeric[flag];
    if (!key) throw new Error(`unknown argument ${a} (known: --quick, --keep, --markdown FILE, ${Object.keys(numeric).join(', ')})`);
    const raw = inline ?? argv[++i];
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number >= 0, got ${String(raw)}`);
    (args as unknown as Record<string, number>)[key] = n;
  }
  if (args.secrets < 1) throw new Error('--secrets must be at least 1');
  if (args.namespaces < 1) throw new Error('--namespaces must be at least 1');
  if (args.gateNamespaces > args.namespaces) args.gateNamespaces = args.namespaces;
  if (args.scaleSecrets > 0 && args.scaleNamespaces < 1) throw new Error('--scale-namespaces must be at least 1');
  return args;
}

/** Per-vault counters as `GET /vault/stats` reports them. */
export interface VaultCounters {
  requests: number;
  reads: number;
  writes: number;
  throttled: number;
  byStatus: Record<string, number>;
}

export function emptyCounters(): VaultCounters {
  return { requests: 0, reads: 0, writes: 0, throttled: 0, byStatus: {} };
}

/** Reads one vault's counters out of a `GET /vault/stats` answer (vault names compared case-insensitively). */
export function countersOf(stats: unknown, vault: string): VaultCounters {
  if (typeof stats !== 'object' || stats === null) throw new Error('vault stats: not an object');
  const entry = Object.entries(stats as Record<string, unknown>).find(([k]) => k.toLowerCase() === vault.toLowerCase())?.[1];
  if (entry === undefined) throw new Error(`vault stats: no entry for ${vault}`);
  const e = entry as Partial<VaultCounters>;
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const byStatus: Record<string, number> = {};
  for (const [k, v] of Object.entries(e.byStatus ?? {})) byStatus[k] = num(v);
  return { requests: num(e.requests), reads: num(e.reads), writes: num(e.writes), throttled: num(e.throttled), byStatus };
}

/** after - before, field by field (status codes absent on one side count as 0). */
export function diffCounters(before: VaultCounters, after: VaultCounters): VaultCounters {
  const byStatus: Record<string, number> = {};
  for (const k of new Set([...Object.keys(before.byStatus), ...Object.keys(after.byStatus)])) {
    const d = (after.byStatus[k] ?? 0) - (before.byStatus[k] ?? 0);
    if (d) byStatus[k] = d;
  }
  return {
    requests: after.requests - before.requests,
    reads: after.reads - before.reads,
    writes: after.writes - before.writes,
    throttled: after.throttled - before.throttled,
    byStatus,
  };
}

/** A request record of the control API's `GET /stats`. */
export interface StatsRecord {
  service: string;
  method: string;
  path: string;
  status: number;
  at: number;
}

/** The earliest record at or after `since` that `match` accepts. */
export function firstRecord(records: readonly unknown[], since: number, match: (r: StatsRecord) => boolean): StatsRecord | undefined {
  let best: StatsRecord | undefined;
  for (const raw of records) {
    if (typeof raw !== 'object' || raw === null) continue;
    const r = raw as Partial<StatsRecord>;
    if (typeof r.at !== 'number' || typeof r.service !== 'string' || typeof r.path !== 'string') continue;
    const rec: StatsRecord = { service: r.service, method: String(r.method ?? ''), path: r.path, status: Number(r.status ?? 0), at: r.at };
    if (rec.at < since || !match(rec)) continue;
    if (!best || rec.at < best.at) best = rec;
  }
  return best;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (Math.abs(ms) < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
}

/** How many times faster `fast` is than `slow` (slow / fast), e.g. "23.4x". */
export function speedup(slowMs: number, fastMs: number): number {
  if (!(fastMs > 0) || !Number.isFinite(slowMs)) return NaN;
  return slowMs / fastMs;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return 'n/a';
  return `${r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

export type Verdict = 'met' | 'NOT met' | 'n/a';

/** `undefined` (not measured) is n/a; otherwise met / NOT met. */
export function verdict(ok: boolean | undefined): Verdict {
  return ok === undefined ? 'n/a' : ok ? 'met' : 'NOT met';
}

export interface Row {
  scenario: string;
  metric: string;
  action: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: Verdict | '';
}

export const ROW_HEADER: readonly string[] = ['scenario', 'metric', 'action', 'baseline', 'ratio', 'target', 'result'];

/** Left-aligned text columns separated by two spaces, a dashed rule under the header. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    widths
      .map((w, i) => (cells[i] ?? '').padEnd(w))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function rowsTable(rows: readonly Row[]): string[] {
  const cells = (r: Row): string[] => [r.scenario, r.metric, r.action, r.baseline, r.ratio, r.target, r.verdict];
  return textTable(ROW_HEADER, rows.map(cells));
}

/** The same rows as a Markdown table (for the README). */
export function markdownTable(rows: readonly Row[]): string[] {
  const cells = (r: Row): string[] => [r.scenario, r.metric, r.action, r.baseline, r.ratio, r.target, r.verdict].map((c) => c.replace(/\|/g, '\\|'));
  const head = ROW_HEADER;
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${cells(r).join(' | ')} |`)];
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  /** 1-minute load averages seen at the start and the end of the run (the machine is shared). */
  load?: { start: number; end: number };
}

export function machineLine(m: MachineInfo): string {
  const load = m.load ? ` | load avg (1 min) ${m.load.start.toFixed(2)} at start, ${m.load.end.toFixed(2)} at end` : '';
  return `machine: ${m.cpuModel} | ${m.cores} cores | ${fmtBytes(m.memoryBytes)} RAM | Node ${m.node} | ${m.platform}${load}`;
}

/** Throttle floor of `writes` secret writes at `perWindow` per `windowMs` (the rate reading). */
export function writeFloorMs(writes: number, perWindow: number, windowMs: number): number {
  return (writes / perWindow) * windowMs;
}

/**
 * The least time `writes` writes can take through a sliding window of `perWindow` per `windowMs`
 * when the first window's burst is used at once: every further full window costs `windowMs`.
 */
export function burstFloorMs(writes: number, perWindow: number, windowMs: number): number {
  if (writes <= perWindow) return 0;
  return (Math.ceil(writes / perWindow) - 1) * windowMs;
}
