// The reliability suite's scenario kit: each scenario owns a fresh vault (control API), its own
// namespace(s) and identity names, runs the committed bundle (dist/index.js) as a runner does, and
// undoes every fault and knob it set. Test-side views (vault versions through the SDK, request
// records through GET /stats, the world dump, the cluster) are what assertions compare.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import type { SecretClient } from '@azure/keyvault-secrets';
import { runAction, type RunnerResult } from '../../support/runner.ts';
import { control, recordMark, sandboxEnvWithKube, type RequestRecord } from '../../support/sandbox.ts';
import { secretValue, shortId } from '../../support/ids.ts';
import { waitFor } from '../../support/wait.ts';
import { createVault, DEPLOYER_CLIENT_ID, SUBSCRIPTION, type AzureSide, type TestVault } from '../../support/azure.ts';
import { deleteNamespace, type Kube } from '../../support/kube.ts';

export const root = resolve(import.meta.dirname, '..', '..', '..');
export const IDS_RG = 'rg-ids';

// The shared test-side pieces, re-exported so a reliability suite imports from one place.
export { secretValue, shortId, waitFor };
export { azureSide, createVault, type AzureSide, type TestVault } from '../../support/azure.ts';
export { kube, kubeAvailable, type Kube } from '../../support/kube.ts';
export { armRecords, isWriteMethod, requestRecords, vaultStats, world } from '../../support/sandbox.ts';

let bundleCopy: string | undefined;

function bundleComplete(): number | undefined {
  const dist = join(root, 'dist');
  for (const f of ['index.js', 'package.json', 'lib/index.js', 'verify/index.js']) if (!existsSync(join(dist, f))) return undefined;
  return statSync(join(dist, 'lib', 'index.js')).size;
}

/** A private copy of dist/ (earlier copies older than an hour removed first), or undefined if a build interrupted the copy. */
function copyBundle(): string | undefined {
  // Copies of earlier runs (7 MB each) older than an hour go first.
  for (const old of readdirSync(tmpdir()).filter((n) => n.startsWith('akv-aks-rel-dist-'))) {
    const p = join(tmpdir(), old);
    if (Date.now() - statSync(p).mtimeMs > 3_600_000) rmSync(p, { recursive: true, force: true });
  }
  const dir = mkdtempSync(join(tmpdir(), 'akv-aks-rel-dist-'));
  try {
    cpSync(join(root, 'dist'), dir, { recursive: true });
    return existsSync(join(dir, 'lib', 'index.js')) && existsSync(join(dir, 'index.js')) ? dir : undefined;
  } catch {
    return undefined; // the build started again meanwhile: the next look tries again
  }
}

/**
 * Whether a complete bundle exists; the first call copies it to a private directory that every run
 * of this test file uses, since another engineer's `npm run build` empties dist/ for ~40 s. A build
 * in progress is waited for (up to 60 s): the bundle is taken once two looks find it complete and
 * of the same size.
 */
export async function bundleBuilt(): Promise<boolean> {
  if (bundleCopy) return true;
  let lastSize: number | undefined;
  const settled = async (): Promise<string | undefined> => {
    const size = bundleComplete();
    const same = size !== undefined && size === lastSize;
    lastSize = size;
    return same ? copyBundle() : undefined;
  };
  bundleCopy = await waitFor('a complete bundle in dist/, the same size at two looks', settled, 60_000, 1_000).catch(() => undefined);
  return bundleCopy !== undefined;
}

/** The runner's `entry` for the private copy of the bundle (relative to the repository root). */
function bundleEntry(): string {
  if (!bundleCopy) throw new Error('no complete bundle in dist/ (npm run build)');
  return relative(root, join(bundleCopy, 'index.js'));
}

// ---- requests and world ------------------------------------------------------------------------

export type { RequestRecord };

// ---- faults and knobs (always undone) -----------------------------------------------------------

export interface FaultSpec {
  service: 'github' | 'entra' | 'arm' | 'keyvault';
  method?: string;
  pathPattern?: string;
  times?: number;
  effect:
    | { kind: 'status'; status: number; code?: string; message?: string; retryAfterSeconds?: number; headers?: Record<string, string> }
    | { kind: 'latency'; ms: number }
    | { kind: 'reset' }
    | { kind: 'drop-response' };
}

/** Undo list of one scenario: world faults by id, vault faults/settle per vault, config knobs. */
export class Restorer {
  private undo: Array<() => Promise<unknown>> = [];

  async worldFault(f: FaultSpec): Promise<string> {
    const { id } = await control<{ id: string }>('POST', '/faults', f);
    this.undo.push(() => control('DELETE', `/faults/${id}`).catch(() => undefined));
    return id;
  }

  async vaultFault(vault: string, f: Omit<FaultSpec, 'service'>): Promise<void> {
    await control('POST', '/vault/faults', { vault, ...f });
    this.undo.push(() => control('DELETE', '/vault/faults', { vault }).catch(() => undefined));
  }

  async listPageFault(vault: string, page: number, status = 500, times = 1): Promise<void> {
    await control('POST', '/vault/faults/list-page', { vault, page, status, times });
    this.undo.push(() => control('DELETE', '/vault/faults', { vault }).catch(() => undefined));
  }

  async settle(vault: string, s: { deleteMs?: number; recoverMs?: number }): Promise<void> {
    await control('PUT', '/vault/settle', { vault, ...s });
    this.undo.push(() => control('PUT', '/vault/settle', { vault, deleteMs: 0, recoverMs: 0 }).catch(() => undefined));
  }

  async throttle(vault: string, limits: { create?: number; other?: number; windowMs?: number }): Promise<void> {
    const before = (await control<Array<{ name: string; throttle: { limits: Record<string, number> } }>>('GET', '/vault/vaults')).find((v) => v.name === vault)?.throttle.limits;
    await control('PUT', '/vault/throttle', { vault, ...limits });
    if (before) this.undo.push(() => control('PUT', '/vault/throttle', { vault, create: before.create, other: before.other, windowMs: before.windowMs }).catch(() => undefined));
  }

  /** PATCH /config with the previous values restored at the end (world knobs and `github`). */
  async config(patch: Record<string, unknown>): Promise<void> {
    const cur = await control<{ config: Record<string, unknown>; github: Record<string, unknown> }>('GET', '/config');
    const back: Record<string, unknown> = {};
    for (const k of Object.keys(patch)) {
      if (k === 'github') {
        const g: Record<string, unknown> = {};
        for (const gk of Object.keys(patch.github as object)) g[gk] = cur.github[gk] ?? null;
        back.github = g;
      } else back[k] = cur.config[k];
    }
    await control('PATCH', '/config', patch);
    this.undo.push(() => control('PATCH', '/config', back).catch(() => undefined));
  }

  async kubelet(patch: Record<string, unknown>): Promise<void> {
    const base = sandboxEnvWithKube().AKV_AKS_SANDBOX_KUBELET;
    if (!base) throw new Error('AKV_AKS_SANDBOX_KUBELET missing');
    const cur = (await (await fetch(new URL('/status', base))).json()) as { config: Record<string, unknown> };
    const back: Record<string, unknown> = {};
    for (const k of Object.keys(patch)) back[k] = cur.config[k];
    const res = await fetch(new URL('/config', base), { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
    if (!res.ok) throw new Error(`kubelet PATCH /config: ${res.status} ${await res.text()}`);
    this.undo.push(() => fetch(new URL('/config', base), { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(back) }).catch(() => undefined));
  }

  push(fn: () => Promise<unknown>): void {
    this.undo.push(fn);
  }

  async restore(): Promise<void> {
    const list = this.undo.reverse();
    this.undo = [];
    for (const fn of list) await fn().catch(() => undefined);
  }
}

// ---- Azure, test side ---------------------------------------------------------------------------

export async function versionsOf(client: SecretClient, name: string): Promise<string[]> {
  const out: string[] = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) if (p.version) out.push(p.version);
  return out;
}

/** Whether the vault's current value of `name` equals `expected` (the value itself never leaves). */
export async function valueIs(client: SecretClient, name: string, expected: string): Promise<boolean> {
  return (await client.getSecret(name)).value === expected;
}

// ---- the cluster, test side ---------------------------------------------------------------------

// The workloads the scenarios deploy: the shared test-side ones.
export { appDeployment, applyObject } from '../../support/kube.ts';

// ---- manifests --------------------------------------------------------------------------------

export interface ManifestOptions {
  vault: string;
  /** Secrets from env: name → env variable. */
  fromEnv: Record<string, string>;
  targets: Array<{ namespace: string; serviceAccount: string; spc: string; objects: string[]; identityName?: string; rotation?: 'restart' | 'none' }>;
  cluster?: string;
}

export function manifestYaml(o: ManifestOptions): string {
  const lines = [
    'apiVersion: akv-aks/v1',
    `vault: { name: ${o.vault}, resourceGroup: rg-sandbox }`,
    `cluster: { name: ${o.cluster ?? 'sandbox'} }`,
    `identityDefaults: { resourceGroup: ${IDS_RG}, location: westeurope }`,
    'secrets:',
    ...Object.entries(o.fromEnv).map(([name, env]) => `  - { name: ${name}, from: { env: ${env} } }`),
    'targets:',
  ];
  const seenNs = new Set<string>();
  for (const t of o.targets) {
    lines.push(`  - namespace: ${t.namespace}`);
    if (!seenNs.has(t.namespace)) lines.push('    createNamespace: true');
    seenNs.add(t.namespace);
    lines.push(`    serviceAccount: ${t.serviceAccount}`);
    lines.push(t.identityName ? `    identity: { create: true, name: ${t.identityName} }` : '    identity: { create: true }');
    lines.push(`    secretProviderClass: ${t.spc}`);
    lines.push('    objects:');
    for (const s of t.objects) lines.push(`      - { secret: ${s} }`);
    lines.push(`    rotation: ${t.rotation ?? 'restart'}`);
  }
  return `${lines.join('\n')}\n`;
}

// ---- the bundle as a runner runs it ----------------------------------------------------------

export interface ReportShape {
  mode: string;
  plan: Array<{ kind: string; name: string; action: string; namespace?: string; reason?: string }>;
  secrets: Array<{ name: string; version?: string; changed: boolean }>;
  restarted: Array<{ kind: string; namespace: string; name: string; reason: string }>;
  warnings: string[];
  gate?: {
    passed: boolean;
    waitedMs: number;
    pods: Array<{ namespace: string; pod: string; ok: boolean; objects: Array<{ object: string; expected?: string; mounted?: string; ok: boolean }> }>;
    diagnoses: Array<{ cause: string; message: string; fix: string; namespace?: string; pod?: string }>;
  };
  verified: boolean;
  error?: string;
}

export interface Run extends RunnerResult {
  report?: ReportShape;
  jobId: string;
  startedAt: number;
  endedAt: number;
  /** recordMark() taken just before the process started: its requests have `seq >= mark`. */
  mark: number;
  killed: boolean;
}

export interface RunOptions {
  workspace: string;
  env?: Record<string, string>;
  inputs?: Record<string, string>;
  /** Variables removed from the runner's environment (e.g. ACTIONS_ID_TOKEN_REQUEST_URL). */
  unset?: string[];
  timeoutMs?: number;
  /**
   * Called with the whole log so far on every chunk; return true to SIGKILL the process now. The
   * process is found by its unique runner job id in the environment (`/proc/<pid>/environ`).
   */
  killWhen?: (logSoFar: string) => boolean | Promise<boolean>;
}

/** Every artifact of every run, for the leak scan at the end of the suite. */
export const artifacts: Array<{ label: string; text: string }> = [];
/** Every secret value any scenario used (label → value). */
export const usedValues = new Map<string, string>();

function findPidByEnv(marker: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const envText = readFileSync(`/proc/${d}/environ`, 'latin1');
      if (envText.includes(marker)) return Number(d);
    } catch {
      /* gone or not ours */
    }
  }
  return undefined;
}

export function newWorkspace(manifest: string): string {
  const ws = mkdtempSync(join(tmpdir(), 'akv-aks-rel-'));
  writeFileSync(join(ws, 'akv-aks.yaml'), manifest);
  return ws;
}

export async function runBundle(label: string, o: RunOptions): Promise<Run> {
  const jobId = randomUUID();
  const env = sandboxEnvWithKube();
  const base: Record<string, string> = { ...env };
  // The sandbox's runner endpoint accepts any job id: ours marks this run's token requests.
  if (base.ACTIONS_ID_TOKEN_REQUEST_URL) base.ACTIONS_ID_TOKEN_REQUEST_URL = base.ACTIONS_ID_TOKEN_REQUEST_URL.replace(/\/jobs\/[^/]+\/idtoken/, `/jobs/${jobId}/idtoken`);
  base.AKV_AKS_RELIABILITY_RUN = jobId;
  // Each scenario (its own workspace) is its own repository, so its manifest is its own instance
  // (docs/ownership.md): scenarios sharing the sandbox's cluster never see each other's objects.
  base.GITHUB_REPOSITORY = `contoso/${basename(o.workspace)}`;
  for (const k of o.unset ?? []) delete base[k];
  const inputs: Record<string, string> = {
    manifest: 'akv-aks.yaml',
    mode: 'apply',
    'client-id': env.AKV_AKS_SANDBOX_CLIENT_ID ?? DEPLOYER_CLIENT_ID,
    'tenant-id': env.AKV_AKS_SANDBOX_TENANT_ID ?? '',
    'subscription-id': env.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? SUBSCRIPTION,
    timeout: '90s',
    ...o.inputs,
  };
  let killed = false;
  let soFar = '';
  let checking = false;
  const mark = await recordMark();
  const startedAt = Date.now();
  const verbose = process.env.AKV_AKS_RELIABILITY_VERBOSE === '1';
  const check = (): void => {
    if (!o.killWhen || killed || checking) return;
    checking = true;
    void Promise.resolve(o.killWhen(soFar))
      .then((yes) => {
        if (!yes || killed) return;
        const pid = findPidByEnv(`AKV_AKS_RELIABILITY_RUN=${jobId}`);
        if (pid) {
          killed = true;
          process.kill(pid, 'SIGKILL');
        }
      })
      .catch(() => undefined)
      .finally(() => (checking = false));
  };
  // Polled as well as on each log chunk: a step can do many requests without printing.
  const poll = o.killWhen ? setInterval(check, 50) : undefined;
  const r = await runAction({
    entry: bundleEntry(),
    inputs,
    env: o.env,
    workspace: o.workspace,
    baseEnv: base,
    timeoutMs: o.timeoutMs ?? 4 * 60_000,
    onLog: (chunk) => {
      soFar += chunk;
      if (verbose) process.stderr.write(chunk);
      check();
    },
  }).finally(() => clearInterval(poll));
  const run: Run = { ...r, jobId, startedAt, endedAt: Date.now(), mark, killed };
  try {
    run.report = r.outputs.report ? (JSON.parse(r.outputs.report) as ReportShape) : undefined;
  } catch {
    run.report = undefined;
  }
  artifacts.push({ label: `${label} log`, text: r.log }, { label: `${label} summary`, text: r.summary });
  for (const [k, v] of Object.entries(r.outputs)) artifacts.push({ label: `${label} output ${k}`, text: v });
  return run;
}

/** The log as the runner shows it (the runner consumes ::add-mask:: commands). */
export function visible(r: RunnerResult): string {
  return r.log
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}

export function errorLines(r: RunnerResult): string[] {
  return visible(r)
    .split('\n')
    .filter((l) => l.startsWith('::error'));
}

/** A value-free account of a run for assertion messages. */
export function describeRun(r: Run): string {
  const tail = visible(r)
    .split('\n')
    .filter((l) => !l.startsWith('::debug::'))
    .slice(-40)
    .join('\n');
  return `exit ${r.exitCode}${r.killed ? ' (killed)' : ''}; error ${r.report?.error ?? '-'}\n--- log tail ---\n${tail}`;
}

export function expectExit(r: Run, code: number): void {
  if (r.exitCode !== code) throw new Error(`expected exit ${code}, got ${describeRun(r)}`);
}

/** The leak scan: each artifact searched for each value used (raw, base64, URL- and JSON-encoded). */
export function leaks(): string[] {
  const hits: string[] = [];
  for (const [label, value] of usedValues) {
    if (value.length < 8) continue;
    const forms = new Set([value, Buffer.from(value).toString('base64'), Buffer.from(value).toString('base64url'), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
    for (const a of artifacts) for (const f of forms) if (a.text.includes(f)) hits.push(`${label} in ${a.label}`);
  }
  return hits;
}

// ---- one scenario: a fresh vault, a namespace, a manifest --------------------------------------

export interface Scenario {
  id: string;
  vault: TestVault;
  ns: string;
  identity: string;
  names: string[];
  env: Record<string, string>;
  workspace: string;
}

export interface ScenarioOptions {
  /** Number of env-sourced secrets (default 3); the target mounts the first two. */
  secrets?: number;
  /** Service accounts of the namespace's targets (default ['api']), each with its own SPC. */
  serviceAccounts?: string[];
}

/**
 * A fresh vault + namespace + manifest with env-sourced secrets (values random, recorded for the
 * leak scan, never printed). `cleanups` receives the undo steps (vault, namespace, identity).
 */
export async function makeScenario(az: AzureSide, k: Kube, tag: string, cleanups: Array<() => Promise<unknown>>, o: ScenarioOptions = {}): Promise<Scenario> {
  const id = shortId();
  const vault = await createVault(az, 'kv-rel-', 'own');
  const ns = `rel-${tag}-${id}`;
  const identity = `id-sandbox-${ns}`;
  cleanups.push(
    () => vault.remove(),
    () => deleteNamespace(k, ns),
    () => az.arm.msi.userAssignedIdentities.delete(IDS_RG, identity),
  );
  const names: string[] = [];
  const fromEnv: Record<string, string> = {};
  const env: Record<string, string> = {};
  for (let i = 0; i < (o.secrets ?? 3); i++) {
    const name = `r${id}-${tag}-${i}`;
    names.push(name);
    fromEnv[name] = `V_${i}`;
    env[`V_${i}`] = secretValue(`${tag}${i}`);
    usedValues.set(name, env[`V_${i}`]!);
  }
  const sas = o.serviceAccounts ?? ['api'];
  const targets = sas.map((sa, i) => ({ namespace: ns, serviceAccount: sa, spc: i === 0 ? 'app' : `app-${sa}`, objects: names.slice(0, 2) }));
  const workspace = newWorkspace(manifestYaml({ vault: vault.name, fromEnv, targets }));
  return { id, vault, ns, identity, names, env, workspace };
}

/** Each secret holds exactly `count` versions and its current value is the manifest's. */
export async function intactState(s: Scenario): Promise<Array<{ name: string; versions: number; valueMatches: boolean }>> {
  const out: Array<{ name: string; versions: number; valueMatches: boolean }> = [];
  for (const [i, name] of s.names.entries()) {
    out.push({ name, versions: (await versionsOf(s.vault.client, name)).length, valueMatches: await valueIs(s.vault.client, name, s.env[`V_${i}`]!) });
  }
  return out;
}

export function expectedIntact(s: Scenario, versions = 1): Array<{ name: string; versions: number; valueMatches: boolean }> {
  return s.names.map((name) => ({ name, versions, valueMatches: true }));
}

/**
 * Why the running sandbox cannot be trusted for a scenario, if it cannot: its supervisor started
 * before the last commit to the Azure simulators (e.g. 8921dd9, Entra asking the kube-apiserver for
 * its JWKS as application/jwk-set+json; an older Entra gets 406 and answers AADSTS50166 to every
 * workload-identity exchange). Undefined when fresh or unknown.
 */
export function staleSandbox(): string | undefined {
  try {
    const pid = readFileSync(join(root, '.sandbox', 'supervisor.pid'), 'utf8').trim();
    const ticks = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19]);
    const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const startedAt = Date.now() / 1000 - uptime + ticks / 100;
    const committed = Number(execFileSync('git', ['log', '-1', '--format=%ct', '--', 'test/sandbox/azure'], { cwd: root, encoding: 'utf8' }).trim());
    if (Number.isFinite(startedAt) && Number.isFinite(committed) && startedAt < committed) {
      return `the running sandbox (pid ${pid}) started before the last commit to test/sandbox/azure: restart it (npm run sandbox -- down, then up)`;
    }
  } catch {
    return undefined;
  }
  return undefined;
}
