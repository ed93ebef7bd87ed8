// The benchmark proper (see run.ts for the entry). Progress goes to stderr; the table and the
// machine line to stdout. The action's @actions/core output (which includes ::add-mask:: commands
// carrying secret values) is swallowed while the bench runs.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { authorizationClient, msiClient, scopeParam } from '../../src/auth/arm.ts';
import type { AzureSession } from '../../src/auth/login.ts';
import { connectKube, readServiceAccountIssuer } from '../../src/kube/client.ts';
import { currentVersions } from '../../src/vault/index.ts';
import { VAULT_LIMITS } from '../../src/keyvault/limiter.ts';
import type { KubeSession } from '../../src/kube/client.ts';
import { burstFloorMs, fmtBytes, fmtMs, fmtRatio, machineLine, markdownTable, median, parseArgs, rowsTable, speedup, verdict, writeFloorMs } from './format.ts';
import type { BenchArgs, Row } from './format.ts';
import { adminKube, control, createVault, deployerSession, ensureSandbox, root, stopSandbox, kubeconfigPath, removeVault, sandboxEnv, throttleOf, waitWindowEmpty } from './sandbox.ts';

import { addVaultLatency, baselineRun, benchManifest, describe, engineFullRun, engineSync, gateRound, secretValues } from './scenarios.ts';
import type { GateRound, Layout } from './scenarios.ts';
import { bareNodeMs, bundleSize, spawnOnce } from './startup.ts';
import { hostileCpuRow } from './hostile.ts';
import { latencyNoop, mainNoop, scaleNoop } from './headline.ts';
import type { HeadlineCtx } from './headline.ts';

const out = process.stdout.write.bind(process.stdout);
const t0 = Date.now();
const progress = (m: string): void => {
  process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}\n`);
};

/** Drops everything written to stdout except through `out` (the action's log and mask commands). */
function swallowActionOutput(): void {
  process.stdout.write = ((_chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') (done as () => void)();
    return true;
  }) as typeof process.stdout.write;
}

async function kubeIfReachable(): Promise<{ kube?: KubeSession; why?: string }> {
  const path = kubeconfigPath();
  if (!path) return { why: 'no cluster in the sandbox (started with --no-kube and no kube dev driver)' };
  try {
    const kube = connectKube({ kubeconfig: path });
    await Promise.race([kube.core.listNamespace({ limit: 1 }), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 10_000))]);
    return { kube };
  } catch (e) {
    return { why: `cluster not reachable: ${(e as Error).message}` };
  }
}

async function throttleOn(): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const w = await control<{ config: { vaultThrottle?: boolean } }>('GET', '/world');
    if (w.config.vaultThrottle === true) return true;
    if (Date.now() > deadline) return false;
    progress('the vault throttle is switched off sandbox-wide (another test?); waiting for it to be on again');
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

interface Cleanup {
  /** Vault names with their resource ids (role assignments at those scopes are removed too). */
  vaults: { name: string; id: string }[];
  namespaces: string[];
  identities: string[];
}

async function cleanup(session: AzureSession, kube: KubeSession | undefined, c: Cleanup): Promise<void> {
  const auth = await authorizationClient(session);
  for (const v of c.vaults) {
    const ids: string[] = [];
    try {
      for await (const a of auth.roleAssignments.listForScope(scopeParam(v.id))) {
        if (a.id && a.scope?.toLowerCase() === v.id.toLowerCase()) ids.push(a.id);
      }
    } catch (e) {
      progress(`cleanup: role assignments of ${v.name}: ${(e as Error).message}`);
    }
    for (const id of ids) await auth.roleAssignments.deleteById(scopeParam(id)).catch((e: unknown) => progress(`cleanup: ${(e as Error).message}`));
    await removeVault(v.name);
  }
  if (kube) {
    const admin = adminKube();
    for (const name of c.namespaces) await admin.core.deleteNamespace({ name }).catch(() => undefined);
  }
  const msi = await msiClient(session);
  for (const name of c.identities) await msi.userAssignedIdentities.delete('rg-ids', name).catch(() => undefined);
}

function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown commit';
  }
}

/** The command line as a reader would re-run it (without the Markdown output option). */
function shownArgs(argv: readonly string[]): string {
  const kept: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--markdown') i++;
    else if (!a.startsWith('--markdown=')) kept.push(a);
  }
  return kept.length ? ` -- ${kept.join(' ')}` : '';
}

export async function main(argv: string[]): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const benchStart = Date.now();
  const loadAtStart = loadavg()[0] ?? NaN;
  const startedSandbox = ensureSandbox(progress);
  const startedSandboxText = startedSandbox ? 'sandbox started by the bench' : 'running sandbox reused';
  const source = process.env.AKV_AKS_BENCH_SOURCE ?? `working tree at ${gitHead()}, ${startedSandboxText}`;
  swallowActionOutput();
  const sandbox = sandboxEnv();
  const { kube, why: noKube } = await kubeIfReachable();
  if (noKube) progress(`${noKube}: the Kubernetes steps and the gate are skipped`);
  const session = await deployerSession();
  if (!(await throttleOn())) {
    progress('the vault throttle stayed off: a benchmark without it would not be honest; stopping');
    if (startedSandbox) stopSandbox();
    return 1;
  }

  const runId = Math.random().toString(16).slice(2, 6);
  const layout: Layout = {
    runId,
    cluster: `bench-${runId}`,
    secrets: args.secrets,
    namespaces: Array.from({ length: args.namespaces }, (_, i) => `bench-${runId}-${i}`),
    identityRg: 'rg-ids',
  };
  const trash: Cleanup = { vaults: [], namespaces: kube ? [...layout.namespaces] : [], identities: layout.namespaces.map((_, i) => `id-${runId}-${i}`) };
  const rows: Row[] = [];
  const notes: string[] = [];
  let failed = false;

  try {
    const values = secretValues(args.secrets);
    const N = args.secrets;
    const NS = args.namespaces;

    // --- first sync into empty vaults (engine and baseline each in a fresh vault) -----------------
    progress(`first sync of ${N} secrets: creating two fresh vaults`);
    const [ve, vb] = await Promise.all([createVault(session, 'kvbe'), createVault(session, 'kvbb')]);
    trash.vaults.push(ve, vb);
    const th = await throttleOf(ve.name);
    if (!th?.enabled) throw new Error('the vault throttle is off');
    const throttleText = `throttle on: ${th.limits.create} secret writes / ${th.limits.other} other ops per ${th.limits.windowMs / 1000} s per vault`;
    progress(throttleText);
    const WRITES_PER_WINDOW = th.limits.create;
    const WINDOW_MS = th.limits.windowMs;
    const me = benchManifest(ve, layout);
    const mb = benchManifest(vb, layout);
    const infoE = await describe(session, me);

    progress(`engine: syncSecrets (apply) of ${N} secrets`);
    const e1 = await engineSync(session, infoE, me, values);
    progress(`engine: ${fmtMs(e1.phase.ms)}, ${e1.phase.counters.writes} writes, ${e1.phase.counters.requests} requests, ${e1.phase.counters.throttled} 429s`);
    progress(`baseline: GET then SET per secret, sequential, ${N} secrets`);
    const b1 = await baselineRun(session, vb, mb, values);
    progress(`baseline: ${fmtMs(b1.ms)}, ${b1.counters.writes} writes, ${b1.counters.requests} requests, ${b1.counters.throttled} 429s`);

    const firstLabel = `first sync, ${N} secrets`;
    const r1 = speedup(b1.ms, e1.phase.ms);
    rows.push({ scenario: firstLabel, metric: 'wall time', action: fmtMs(e1.phase.ms), baseline: fmtMs(b1.ms), ratio: fmtRatio(r1), target: '>= 8x', verdict: verdict(r1 >= 8) });
    rows.push({
      scenario: firstLabel,
      metric: '429s received',
      action: String(e1.phase.counters.throttled),
      baseline: String(b1.counters.throttled),
      ratio: '',
      target: '<= 1 (first signal)',
      verdict: verdict(e1.phase.counters.throttled <= 1),
    });
    rows.push({
      scenario: firstLabel,
      metric: 'Key Vault write requests / all requests',
      action: `${e1.phase.counters.writes} / ${e1.phase.counters.requests}`,
      baseline: `${b1.counters.writes} / ${b1.counters.requests}`,
      ratio: '',
      target: '',
      verdict: '',
    });
    const floorE = writeFloorMs(e1.phase.counters.writes, WRITES_PER_WINDOW, WINDOW_MS);
    const floorB = writeFloorMs(b1.counters.writes, WRITES_PER_WINDOW, WINDOW_MS);
    rows.push({
      scenario: firstLabel,
      metric: `time / write floor (${e1.phase.counters.writes} writes at ${WRITES_PER_WINDOW} per ${WINDOW_MS / 1000} s = ${fmtMs(floorE)})`,
      action: `${fmtMs(e1.phase.ms)} = ${fmtRatio(e1.phase.ms / floorE)}`,
      baseline: `${fmtMs(b1.ms)} = ${fmtRatio(b1.ms / floorB)}`,
      ratio: '',
      target: '<= 1.20x floor',
      verdict: verdict(e1.phase.ms <= floorE * 1.2),
    });
    if (e1.phase.ms > floorE * 1.2) {
      const windows = Math.ceil(e1.phase.counters.writes / VAULT_LIMITS.writesPerWindow);
      notes.push(
        `first sync floor: the engine's client-side limiter (src/vault/limiter.ts VAULT_LIMITS) admits ${VAULT_LIMITS.writesPerWindow} writes per ${VAULT_LIMITS.windowMs / 1000} s, ` +
          `so its ${e1.phase.counters.writes} writes (the secrets plus its digest-key secret) span ${windows} windows: about ${fmtMs((windows - 1) * VAULT_LIMITS.windowMs)} of waiting by construction.`,
      );
    }
    const burstB = burstFloorMs(b1.counters.writes, WRITES_PER_WINDOW, WINDOW_MS);
    if (r1 < 8 && b1.counters.writes > WRITES_PER_WINDOW) {
      notes.push(
        `first sync: both sides must write every secret once, and the vault admits ${WRITES_PER_WINDOW} writes per ${WINDOW_MS / 1000} s: ` +
          `${b1.counters.writes} writes cannot complete in under ${fmtMs(burstB)} (burst of ${WRITES_PER_WINDOW}, then the window) for anyone. ` +
          `On loopback the sequential baseline already reaches that floor (${fmtMs(b1.ms)}, ${b1.counters.throttled} 429s retried by the SDK), ` +
          `so a ratio of 8x is physically impossible here with the throttle on; the ratio only opens up when requests have a real round trip (see the latency row, if run).`,
      );
    } else if (r1 < 8) {
      notes.push(
        `first sync: ${b1.counters.writes} writes stay under one throttle window, and loopback requests take about ` +
          `${fmtMs(b1.ms / Math.max(1, b1.counters.requests))} each, so the sequential baseline has little latency to lose; the ratio measures client overhead, not round trips.`,
      );
    }

    // --- first full apply (identities, federation, role, Kubernetes objects), not measured --------
    const issuer = kube ? await readServiceAccountIssuer(kube) : 'https://127.0.0.1:27643';
    progress(`first full apply of ${NS} namespaces (identities, federated credentials, role assignments${kube ? ', Kubernetes objects' : ''})`);
    const first = await engineFullRun(session, infoE, me, values, { issuer, kube, tenantId: session.tenantId });
    progress(`first full apply: ${fmtMs(first.totalMs)} (${first.steps.map((s) => `${s.name} ${fmtMs(s.ms)}`).join(', ')})`);

    // --- no-op re-run -------------------------------------------------------------------------------
    await waitWindowEmpty(ve.name, WINDOW_MS, e1.phase.endedAt);
    progress(`no-op re-run: engine (${N} secrets x ${NS} namespaces)`);
    const noop = await engineFullRun(session, infoE, me, values, { issuer, kube, tenantId: session.tenantId });
    const syncMs = noop.steps.find((s) => s.name === 'vault sync')?.ms ?? NaN;
    progress(`engine no-op: ${fmtMs(noop.totalMs)} (${noop.steps.map((s) => `${s.name} ${fmtMs(s.ms)}`).join(', ')}), ${noop.counters.writes} writes, ${noop.counters.requests} requests`);
    await waitWindowEmpty(vb.name, WINDOW_MS, b1.endedAt);
    progress('no-op re-run: baseline');
    const b2 = await baselineRun(session, vb, mb, values);
    progress(`baseline no-op: ${fmtMs(b2.ms)}, ${b2.counters.writes} writes, ${b2.counters.requests} requests, ${b2.counters.throttled} 429s`);
    const noopLabel = `breakdown: in-process steps, no-op, ${N} secrets x ${NS} ns`;
    rows.push({
      scenario: noopLabel,
      metric: 'Key Vault write requests',
      action: String(noop.counters.writes),
      baseline: String(b2.counters.writes),
      ratio: '',
      target: '0',
      verdict: verdict(noop.counters.writes === 0),
    });
    rows.push({
      scenario: noopLabel,
      metric: 'Key Vault requests',
      action: String(noop.counters.requests),
      baseline: String(b2.counters.requests),
      ratio: '',
      target: '<= 40',
      verdict: verdict(noop.counters.requests <= 40),
    });
    const rs = speedup(b2.ms, syncMs);
    rows.push({ scenario: noopLabel, metric: 'wall time: vault sync', action: fmtMs(syncMs), baseline: fmtMs(b2.ms), ratio: fmtRatio(rs), target: '>= 20x', verdict: verdict(rs >= 20) });
    const rf = speedup(b2.ms, noop.totalMs);
    rows.push({
      scenario: noopLabel,
      metric: `wall time: ${noop.steps.map((s) => s.name).join(' + ')}`,
      action: fmtMs(noop.totalMs),
      baseline: fmtMs(b2.ms),
      ratio: fmtRatio(rf),
      target: '>= 20x',
      verdict: verdict(rf >= 20),
    });
    notes.push(
      `no-op whole re-run by step: ${noop.steps.map((s) => `${s.name} ${fmtMs(s.ms)}`).join(', ')} (${NS} namespaces; plan items: ${Object.entries(noop.itemsByAction)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ')})`,
    );
    if (noop.counters.requests > 40) {
      const byStatus = Object.entries(noop.counters.byStatus)
        .map(([k, v]) => `${v}x${k}`)
        .join(', ');
      notes.push(
        `no-op requests: ${noop.counters.requests} (${byStatus}). A LIST page holds 25 secrets, so ${N} secrets alone take ${Math.ceil(N / 25)} pages; ` +
          `LIST answers carry no version, so every mounted secret whose version the gate needs costs a versions lookup (src/vault/index.ts latestVersion).`,
      );
    }
    if (!kube) notes.push(`no-op: ${noKube}; the whole re-run row covers vault sync + identities only`);

    // --- the run as users run it: node dist/index.js, default inputs (the headline rows) ----------
    const headline: HeadlineCtx = { session, sandbox, kubeconfig: kubeconfigPath(), progress, rows, notes, trash };
    if (kube) {
      await mainNoop(headline, { vault: ve, cluster: layout.cluster, secretCount: N, values, namespaces: layout.namespaces, identity: (i) => `id-${runId}-${i}`, baselineMs: b2.ms });
    } else {
      rows.push({ scenario: 'no-op, node dist/index.js', metric: 'whole run', action: 'n/a', baseline: '', ratio: '', target: '', verdict: 'n/a' });
    }

    // --- first sync with a region round trip (both sides alike) ----------------------------------
    if (args.latencyMs > 0 && args.latencySecrets > 0) {
      const L = args.latencySecrets;
      progress(`first sync of ${L} secrets with +${args.latencyMs} ms per vault request: two fresh vaults`);
      const [le, lb] = await Promise.all([createVault(session, 'kvle'), createVault(session, 'kvlb')]);
      trash.vaults.push(le, lb);
      await addVaultLatency(le.name, args.latencyMs);
      await addVaultLatency(lb.name, args.latencyMs);
      const lvalues = secretValues(L);
      const lLayout: Layout = { ...layout, secrets: L, namespaces: [] };
      const lme = benchManifest(le, lLayout);
      const le1 = await engineSync(session, await describe(session, lme), lme, lvalues);
      progress(`engine: ${fmtMs(le1.phase.ms)}`);
      const lb1 = await baselineRun(session, lb, benchManifest(lb, lLayout), lvalues);
      progress(`baseline: ${fmtMs(lb1.ms)}`);
      const rl = speedup(lb1.ms, le1.phase.ms);
      rows.push({
        scenario: `first sync, ${L} secrets, +${args.latencyMs} ms/request`,
        metric: 'wall time',
        action: fmtMs(le1.phase.ms),
        baseline: fmtMs(lb1.ms),
        ratio: fmtRatio(rl),
        target: '(>= 8x)',
        verdict: verdict(rl >= 8),
      });
      rows.push({
        scenario: `first sync, ${L} secrets, +${args.latencyMs} ms/request`,
        metric: '429s received',
        action: String(le1.phase.counters.throttled),
        baseline: String(lb1.counters.throttled),
        ratio: '',
        target: '<= 1',
        verdict: verdict(le1.phase.counters.throttled <= 1),
      });
      if (kube && L === N) {
        await latencyNoop(headline, {
          vault: ve,
          cluster: layout.cluster,
          secretCount: N,
          values,
          namespaces: layout.namespaces,
          identity: (i) => `id-${runId}-${i}`,
          latencyMs: args.latencyMs,
          baselineMs: lb1.ms,
        });
      }
    }

    // --- gate latency --------------------------------------------------------------------------------
    if (kube) {
      const gateNs = layout.namespaces.slice(0, args.gateNamespaces);
      const rounds: GateRound[] = [];
      const replicas = Math.max(1, Math.ceil(args.gatePods / gateNs.length));
      // The versions now in the vault (the bundle's runs may have written since the in-process no-op).
      const expected = await currentVersions(session, infoE, me);
      for (let r = 0; r < args.gateRounds; r++) {
        progress(`gate round ${r + 1}/${args.gateRounds}: a Deployment of ${replicas} pods in each of ${gateNs.length} namespace(s), runGate in-process`);
        const g = await gateRound(kube, me, expected, gateNs, r, replicas).catch((e: unknown): GateRound => ({
          latencyMs: NaN,
          readyLatencyMs: NaN,
          waitedMs: NaN,
          passed: false,
          valid: false,
          pods: 0,
          failure: `gate round: ${(e as Error).message}`,
        }));
        progress(
          `gate: ${g.passed ? 'passed' : `failed (${g.failure ?? ''})`}, ${g.pods} pods, latency ${fmtMs(g.latencyMs)} (from the last pod Ready: ${fmtMs(g.readyLatencyMs)})${g.valid ? '' : ' (not an update-to-pass measurement)'}`,
        );
        rounds.push(g);
        if (!g.passed) {
          progress('gate: not passing; the remaining rounds would fail the same way, skipped');
          break;
        }
      }
      const valid = rounds.filter((g) => g.passed && g.valid).map((g) => g.latencyMs);
      const worst = valid.length ? Math.max(...valid) : NaN;
      rows.push({
        scenario: `gate, ${gateNs.length * replicas} pods (${gateNs.length} ns x ${replicas})`,
        metric: `last SPCPS update -> pass (median / max of ${valid.length})`,
        action: valid.length ? `${fmtMs(median(valid))} / ${fmtMs(worst)}` : 'n/a',
        baseline: '',
        ratio: '',
        target: '<= 1 s',
        verdict: verdict(valid.length ? worst <= 1000 : undefined),
      });
      const fromReady = rounds.filter((g) => g.passed && g.valid).map((g) => g.readyLatencyMs);
      if (fromReady.length)
        rows.push({
          scenario: `gate, ${gateNs.length * replicas} pods (${gateNs.length} ns x ${replicas})`,
          metric: `context: last pod Ready -> pass (median / max of ${fromReady.length})`,
          action: `${fmtMs(median(fromReady))} / ${fmtMs(Math.max(...fromReady))}`,
          baseline: '',
          ratio: '',
          target: '',
          verdict: '',
        });
      const bad = rounds.filter((g) => !g.passed || !g.valid);
      if (bad.length)
        notes.push(
          `gate: ${bad.length} round(s) not counted: ${bad.map((g) => (g.passed ? 'SPCPS arrived before the gate started' : (g.failure ?? 'failed').split('; ')[0]?.slice(0, 300))).join('; ')}`,
        );
      notes.push(
        "gate latency: time the bench's own SPCPS watch saw the last new pod mounted, to the moment runGate resolved (same process, same apiserver). " +
          "The gate counts a pod once it is also Ready; the sandbox's kubelet sets Ready one status update after the mount, so the context row shows the gate's own reaction.",
      );
    } else {
      rows.push({ scenario: 'gate', metric: 'last SPCPS update -> pass', action: 'n/a', baseline: '', ratio: '', target: '<= 1 s', verdict: 'n/a' });
    }

    // --- scale: 5,000 x 100 no-op, and a small manifest in that crowded vault ------------------------
    if (kube && args.scaleSecrets > 0) {
      await scaleNoop(headline, { runId, secrets: args.scaleSecrets, namespaces: args.scaleNamespaces, smallSecrets: args.smallSecrets, quick: args.quick });
    }

    // --- process start to first request --------------------------------------------------------------
    const starts: number[] = [];
    for (let i = 0; i < args.startRuns; i++) {
      const s = await spawnOnce({
        sandbox,
        kubeconfig: kubeconfigPath(),
        vault: ve.name,
        cluster: layout.cluster,
        namespace: layout.namespaces[0] ?? 'default',
        identity: `id-${runId}-0`,
        secretEnv: { BENCH_START_VALUE: secretValues(1).BENCH_S_0000 ?? 'x' },
      });
      progress(`node dist/index.js #${i + 1}: first request after ${fmtMs(s.firstRequestMs)}, exit ${s.exitCode} after ${fmtMs(s.wallMs)}${s.errors.length ? `; ${s.errors.join(' | ')}` : ''}`);
      if (Number.isFinite(s.firstRequestMs)) starts.push(s.firstRequestMs);
    }
    const startMed = median(starts);
    rows.push({
      scenario: `process start (${process.version})`,
      metric: `spawn -> first request, median (min-max) of ${starts.length}`,
      action: starts.length ? `${fmtMs(startMed)} (${fmtMs(Math.min(...starts))}-${fmtMs(Math.max(...starts))})` : 'n/a',
      baseline: '',
      ratio: '',
      target: '<= 0.5 s',
      verdict: verdict(starts.length ? startMed <= 500 : undefined),
    });

    const bare: number[] = [];
    for (let i = 0; i < args.startRuns; i++) bare.push(await bareNodeMs());
    rows.push({
      scenario: `process start (${process.version})`,
      metric: `context: \`node -e 0\` spawn -> exit, median of ${bare.length}`,
      action: fmtMs(median(bare)),
      baseline: '',
      ratio: '',
      target: '',
      verdict: '',
    });
    rows.push({
      scenario: `process start (${process.version})`,
      metric: 'spawn -> first request, as a multiple of `node -e 0` (same run)',
      action: starts.length ? fmtRatio(startMed / median(bare)) : 'n/a',
      baseline: '',
      ratio: '',
      target: '',
      verdict: '',
    });

    // --- hostile input, CPU time ------------------------------------------------------------------------
    rows.push(await hostileCpuRow(progress));

    // --- bundle size ------------------------------------------------------------------------------------
    const b = bundleSize();
    rows.push({ scenario: 'bundle', metric: 'dist/lib/index.js', action: fmtBytes(b.libIndex), baseline: '', ratio: '', target: '', verdict: '' });
    rows.push({ scenario: 'bundle', metric: `dist/ total (${b.files} files)`, action: fmtBytes(b.total), baseline: '', ratio: '', target: '', verdict: '' });

    out('\n');
    out(`akv-aks-action benchmark${args.quick ? ' (--quick)' : ''}: action engine vs naive baseline (GET then SET per secret, sequential, same SDK and credential)\n`);
    out(`${throttleText}; each side in its own fresh vault; ${source}; ${fmtMs(Date.now() - benchStart)} in all\n\n`);
    for (const line of rowsTable(rows)) out(`${line}\n`);
    out('\n');
    for (const n of notes) out(`note: ${n}\n`);
    const cpu = cpus();
    const machine = machineLine({
      cpuModel: cpu[0]?.model.trim() ?? 'unknown CPU',
      cores: cpu.length,
      memoryBytes: totalmem(),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      load: { start: loadAtStart, end: loadavg()[0] ?? NaN },
    });
    out(`${machine}\n`);
    if (args.markdown) {
      const md = [
        `Run of ${new Date(benchStart).toISOString()} (\`npm run bench${shownArgs(argv)}\`, ${source}, ${fmtMs(Date.now() - benchStart)}), ${throttleText}.`,
        '',
        ...markdownTable(rows),
        '',
        ...notes.map((n) => `- ${n}`),
        '',
        `\`${machine}\``,
        '',
      ];
      writeFileSync(args.markdown, md.join('\n'));
      progress(`Markdown written to ${args.markdown}`);
    }
  } catch (e) {
    failed = true;
    progress(`benchmark failed: ${(e as Error).message}`);
  } finally {
    if (!args.keep) {
      progress('cleaning up (vaults, namespaces, identities)');
      await cleanup(session, kube, trash).catch((e: unknown) => progress(`cleanup: ${(e as Error).message}`));
    }
    if (startedSandbox) {
      progress('stopping the sandbox this run started');
      stopSandbox();
    }
  }
  return failed ? 1 : 0;
}
