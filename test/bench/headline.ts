// The headline rows: the action as users run it (`node dist/index.js`, mode apply, default inputs),
// a first deploy to settle, then the measured no-op, counted per service from the sandbox's records.
// Three layouts: the main one (N x NS, same vault and objects as the in-process rows), the scale
// one (5,000 x 100 in a vault of its own), and a small manifest in that crowded vault.
import { randomBytes } from 'node:crypto';
import type { AzureSession } from '../../src/auth/login.ts';
import { countsText, runBundle, userManifest } from './bundle.ts';
import type { BundleRun } from './bundle.ts';
import { fmtBytes, fmtMs, fmtRatio, speedup, verdict } from './format.ts';
import type { Row } from './format.ts';
import { createVault } from './sandbox.ts';
import type { BenchVault } from './sandbox.ts';
import { SERVICE_ACCOUNT, SPC, addVaultLatency, clearVaultLatency } from './scenarios.ts';

export interface HeadlineCtx {
  session: AzureSession;
  sandbox: Record<string, string>;
  kubeconfig?: string;
  progress: (m: string) => void;
  rows: Row[];
  notes: string[];
  /** Vaults, namespaces and identities to remove at the end. */
  trash: { vaults: { name: string; id: string }[]; namespaces: string[]; identities: string[] };
}

interface Layout {
  vault: BenchVault;
  cluster: string;
  secrets: { name: string; env: string }[];
  values: Record<string, string>;
  namespaces: string[];
  identity: (i: number) => string;
}

const SKIP_LINE = /proof of access: skipped|^proof: |secret\(s\) by name rather than listing/;

function run(ctx: HeadlineCtx, l: Layout): Promise<BundleRun> {
  return runBundle({
    sandbox: ctx.sandbox,
    kubeconfig: ctx.kubeconfig,
    manifest: userManifest({ vault: l.vault.name, cluster: l.cluster, secrets: l.secrets, namespaces: l.namespaces, identity: l.identity, serviceAccount: SERVICE_ACCOUNT, spc: SPC }),
    env: l.values,
    vault: l.vault.name,
    secretNames: l.secrets.map((s) => s.name),
    keep: SKIP_LINE,
  });
}

/** Spawns of the main no-op measured (the wall-time row is their median: one spawn varies by 0.1 s here). */
const MAIN_NOOP_RUNS = 5;

/** The run of median wall time (the upper one of an even count). */
function medianRun(runs: readonly BundleRun[]): BundleRun {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** First deploy then `runs` no-ops (the one of median wall time is returned); undefined (with a note) when a run fails. */
async function deployThenNoop(ctx: HeadlineCtx, l: Layout, label: string, runs = 1): Promise<{ first: BundleRun; noop: BundleRun; noops: BundleRun[] } | undefined> {
  ctx.progress(`${label}: first deploy through node dist/index.js`);
  const first = await run(ctx, l);
  ctx.progress(`${label}: first deploy exit ${first.exitCode} in ${fmtMs(first.wallMs)}; ${countsText(first.counts)}`);
  if (first.exitCode !== 0) {
    ctx.notes.push(`${label}: the first deploy failed (exit ${first.exitCode}): ${first.errors.slice(0, 3).join(' | ')}`);
    return undefined;
  }
  const noops: BundleRun[] = [];
  for (let i = 1; i <= runs; i++) {
    ctx.progress(`${label}: no-op re-run${runs > 1 ? ` ${i}/${runs}` : ''} through node dist/index.js`);
    const noop = await run(ctx, l);
    ctx.progress(`${label}: no-op exit ${noop.exitCode} in ${fmtMs(noop.wallMs)}, peak RSS ${fmtBytes(noop.peakRssBytes)}; ${countsText(noop.counts)}`);
    if (noop.exitCode !== 0) {
      ctx.notes.push(`${label}: the no-op run failed (exit ${noop.exitCode}): ${noop.errors.slice(0, 3).join(' | ')}`);
      return undefined;
    }
    noops.push(noop);
  }
  return { first, noop: medianRun(noops), noops };
}

function row(scenario: string, metric: string, action: string, target: string, ok: boolean | undefined, extra: Partial<Row> = {}): Row {
  return { scenario, metric, action, baseline: '', ratio: '', target, verdict: target ? verdict(ok) : '', ...extra };
}

/** Rows every no-op shares: writes, value reads, pod exchanges, sign-in cost, Kubernetes, output sizes. */
function commonRows(scenario: string, r: BundleRun): Row[] {
  const c = r.counts;
  return [
    row(scenario, 'Key Vault write requests', String(c.keyvaultWrites), '0', c.keyvaultWrites === 0),
    row(scenario, 'secret-value reads (GET /secrets/{name}, anyone)', String(c.secretValueReads), '0', c.secretValueReads === 0),
    row(scenario, 'pod token exchanges at Entra', String(c.podTokenExchanges), '0', c.podTokenExchanges === 0),
    row(scenario, 'Entra token requests (deployer)', String(c.entraTokens), '<= 3', c.entraTokens <= 3),
    row(scenario, 'Entra metadata discovery requests', String(c.entraDiscovery), '<= 1 (one authority)', c.entraDiscovery <= 1),
    row(scenario, 'GitHub ID-token requests', String(c.githubIdTokens), '<= 3', c.githubIdTokens <= 3),
    row(scenario, 'Kubernetes API requests', c.kube === undefined ? 'n/a (no audit log: sandbox started before it had one)' : String(c.kube), '', undefined),
    row(
      scenario,
      'step summary / log size',
      `${fmtBytes(r.summaryBytes)} / ${fmtBytes(r.logBytes)} (${Object.entries(r.logByKind)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${fmtBytes(n)}`)
        .join(', ')})`,
      'summary < 64 KiB',
      r.summaryBytes < 64 * 1024,
    ),
  ];
}

function envSecrets(prefix: string, n: number): { secrets: Layout['secrets']; values: Record<string, string> } {
  const secrets: Layout['secrets'] = [];
  const values: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const name = `bench-${prefix}-${String(i).padStart(4, '0')}`;
    const env = `BENCH_${prefix.toUpperCase()}_${String(i).padStart(4, '0')}`;
    secrets.push({ name, env });
    values[env] = randomBytes(18).toString('base64url');
  }
  return { secrets, values };
}

/** The main layout's secrets (names and variables of the in-process rows' benchManifest). */
function mainSecrets(count: number): Layout['secrets'] {
  return Array.from({ length: count }, (_, i) => ({ name: `bench-s-${String(i).padStart(4, '0')}`, env: `BENCH_S_${String(i).padStart(4, '0')}` }));
}

/**
 * The main no-op through the bundle, on the vault and objects of the in-process rows (same secret
 * names, values, identities, namespaces): its first run settles what the in-process steps left
 * differently (ledger, tags), the second is the measured no-op, set against the per-secret loop.
 */
export async function mainNoop(
  ctx: HeadlineCtx,
  o: { vault: BenchVault; cluster: string; secretCount: number; values: Record<string, string>; namespaces: string[]; identity: (i: number) => string; baselineMs: number },
): Promise<BundleRun | undefined> {
  const secrets = mainSecrets(o.secretCount);
  const scenario = `no-op, node dist/index.js, ${o.secretCount} secrets x ${o.namespaces.length} ns`;
  const r = await deployThenNoop(ctx, { vault: o.vault, cluster: o.cluster, secrets, values: o.values, namespaces: o.namespaces, identity: o.identity }, scenario, MAIN_NOOP_RUNS);
  if (!r) {
    ctx.rows.push(row(scenario, 'whole run', 'n/a (failed, see notes)', '', undefined));
    return undefined;
  }
  const n = r.noop;
  const ratio = speedup(o.baselineMs, n.wallMs);
  ctx.rows.push(
    row(scenario, `wall time, spawn to exit (median of ${r.noops.length}: ${r.noops.map((x) => fmtMs(x.wallMs)).join(', ')})`, fmtMs(n.wallMs), '>= 20x', ratio >= 20, {
      baseline: fmtMs(o.baselineMs),
      ratio: fmtRatio(ratio),
    }),
    row(scenario, 'Key Vault requests', String(n.counts.keyvault), '<= 40', n.counts.keyvault <= 40),
    row(scenario, 'ARM requests', String(n.counts.arm), '<= 25', n.counts.arm <= 25),
    ...commonRows(scenario, n),
    row(scenario, 'peak RSS of the action process', fmtBytes(n.peakRssBytes), '', undefined),
  );
  const differing = r.noops.filter((x) => JSON.stringify(x.counts) !== JSON.stringify(n.counts));
  if (differing.length) ctx.notes.push(`${scenario}: request counts differed between the no-op runs: ${r.noops.map((x) => countsText(x.counts)).join(' | ')}`);
  const proof = n.kept.find((l) => /proof/.test(l));
  if (proof) ctx.notes.push(`${scenario}: the proof step said: ${proof.trim()}`);
  ctx.notes.push(`${scenario}: baseline = the per-secret loop's no-op (GET then SET per secret, sequential) on its own vault, as in the in-process rows.`);
  return n;
}

/**
 * The main no-op again with a round trip added to each of its vault's requests, against the loop
 * measured with the same round trip (the first-sync latency row's baseline: GET then SET per secret).
 * Context for the loopback row: only the vault is slowed, as in that baseline.
 */
export async function latencyNoop(
  ctx: HeadlineCtx,
  o: { vault: BenchVault; cluster: string; secretCount: number; values: Record<string, string>; namespaces: string[]; identity: (i: number) => string; latencyMs: number; baselineMs: number },
): Promise<void> {
  const secrets = mainSecrets(o.secretCount);
  const scenario = `no-op, node dist/index.js, ${o.secretCount} secrets x ${o.namespaces.length} ns, +${o.latencyMs} ms per Key Vault request`;
  ctx.progress(`${scenario}: no-op through node dist/index.js`);
  await addVaultLatency(o.vault.name, o.latencyMs);
  let r: BundleRun;
  try {
    r = await run(ctx, { vault: o.vault, cluster: o.cluster, secrets, values: o.values, namespaces: o.namespaces, identity: o.identity });
  } finally {
    await clearVaultLatency(o.vault.name);
  }
  if (r.exitCode !== 0) {
    ctx.rows.push(row(scenario, 'whole run', 'n/a (failed, see notes)', '', undefined));
    ctx.notes.push(`${scenario}: exit ${r.exitCode}: ${r.errors.slice(0, 3).join(' | ')}`);
    return;
  }
  const ratio = speedup(o.baselineMs, r.wallMs);
  ctx.rows.push(
    row(scenario, 'wall time, spawn to exit', fmtMs(r.wallMs), '(>= 20x)', ratio >= 20, { baseline: fmtMs(o.baselineMs), ratio: fmtRatio(ratio) }),
    row(scenario, 'Key Vault requests / writes', `${r.counts.keyvault} / ${r.counts.keyvaultWrites}`, '', undefined),
  );
  ctx.notes.push(`${scenario}: baseline = the per-secret loop (GET then SET per secret, sequential) with the same +${o.latencyMs} ms per request, from the first-sync latency row.`);
}

/** The scale no-op (its own vault, identities, namespaces) and a small manifest's no-op in that crowded vault. */
export async function scaleNoop(ctx: HeadlineCtx, o: { runId: string; secrets: number; namespaces: number; smallSecrets: number; quick: boolean }): Promise<void> {
  const vault = await createVault(ctx.session, 'kvbs');
  ctx.trash.vaults.push(vault);
  const namespaces = Array.from({ length: o.namespaces }, (_, i) => `bench-${o.runId}-s${i}`);
  const identity = (i: number): string => `id-${o.runId}-s${i}`;
  ctx.trash.namespaces.push(...namespaces);
  ctx.trash.identities.push(...namespaces.map((_, i) => identity(i)));
  const { secrets, values } = envSecrets('x', o.secrets);
  const scenario = `no-op, node dist/index.js, ${o.secrets} secrets x ${o.namespaces} ns${o.quick ? ' (--quick size)' : ''}`;
  const r = await deployThenNoop(ctx, { vault, cluster: `bench-${o.runId}-s`, secrets, values, namespaces, identity }, scenario);
  if (r) {
    const n = r.noop;
    ctx.rows.push(
      row(scenario, 'first deploy, spawn to exit (context)', fmtMs(r.first.wallMs), '', undefined),
      row(scenario, 'wall time, spawn to exit', fmtMs(n.wallMs), '', undefined),
      row(scenario, 'Key Vault requests', String(n.counts.keyvault), '<= 250', n.counts.keyvault <= 250),
      row(scenario, 'ARM requests', String(n.counts.arm), '<= 110', n.counts.arm <= 110),
      row(scenario, 'peak RSS of the action process', fmtBytes(n.peakRssBytes), '<= 250 MB', Number.isFinite(n.peakRssBytes) ? n.peakRssBytes <= 250 * 1024 * 1024 : undefined),
      ...commonRows(scenario, n),
    );
  } else ctx.rows.push(row(scenario, 'whole run', 'n/a (failed, see notes)', '', undefined));

  if (o.smallSecrets < 1) return;
  const small = envSecrets('t', o.smallSecrets);
  const ns = `bench-${o.runId}-t0`;
  ctx.trash.namespaces.push(ns);
  ctx.trash.identities.push(`id-${o.runId}-t0`);
  const smallScenario = `no-op, ${o.smallSecrets}-secret manifest, 1 ns, in a vault holding ${o.secrets} other secrets`;
  const s = await deployThenNoop(ctx, { vault, cluster: `bench-${o.runId}-t`, secrets: small.secrets, values: small.values, namespaces: [ns], identity: () => `id-${o.runId}-t0` }, smallScenario);
  if (!s) {
    ctx.rows.push(row(smallScenario, 'whole run', 'n/a (failed, see notes)', '', undefined));
    return;
  }
  ctx.rows.push(
    row(smallScenario, 'Key Vault requests', String(s.noop.counts.keyvault), '<= 15', s.noop.counts.keyvault <= 15),
    row(smallScenario, 'Key Vault write requests', String(s.noop.counts.keyvaultWrites), '0', s.noop.counts.keyvaultWrites === 0),
    row(smallScenario, 'secret-value reads (GET /secrets/{name}, anyone)', String(s.noop.counts.secretValueReads), '0', s.noop.counts.secretValueReads === 0),
    row(smallScenario, 'Key Vault requests of its first deploy (lists the vault: no size on record yet)', String(s.first.counts.keyvault), '', undefined),
    row(smallScenario, 'ARM requests', String(s.noop.counts.arm), '', undefined),
    row(smallScenario, 'wall time, spawn to exit', fmtMs(s.noop.wallMs), '', undefined),
  );
  const listed = s.noop.kept.some((l) => /read \d+ secret\(s\) by name/.test(l)) ? 'read its secrets by name' : 'listed the vault';
  ctx.notes.push(`${smallScenario}: the no-op's secret sync ${listed} (a LIST of the vault is about ${Math.ceil((o.secrets + o.smallSecrets) / 25)} pages here; src/vault/decide.ts).`);
}
