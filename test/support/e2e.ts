// End-to-end scenarios: run the committed bundle as a runner does (runner.ts) against the shared
// sandbox, with a unique runner job per step (so its GitHub ID-token requests are told apart from
// other tests' in GET /stats) and every artifact fed to a LeakScan; `e2eScenario` sets up what
// every scenario needs (clients, a vault of its own, a workspace with its manifest) and removes it.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll } from '@jest/globals';
import type { SecretClient } from '@azure/keyvault-secrets';
import { LeakScan } from './leaks.ts';
import { runAction, type RunnerResult } from './runner.ts';
import { isWriteMethod, recordMark, requestRecords, sandboxEnvWithKube, type RequestRecord } from './sandbox.ts';
import { shortId } from './ids.ts';
import { azureSide, createVault, vaultClient, DEPLOYER_CLIENT_ID, SUBSCRIPTION, type AzureSide, type TestVault } from './azure.ts';
import { deleteNamespace, kube, type Kube } from './kube.ts';

export const root = resolve(import.meta.dirname, '..', '..');
export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** The cluster's service-account issuer: the kube-apiserver URL (https://127.0.0.1:27643). */
export const SANDBOX_ISSUER = ((): string => {
  try {
    return sandboxEnvWithKube().AKV_AKS_SANDBOX_KUBE_API ?? 'https://127.0.0.1:27643';
  } catch {
    return 'https://127.0.0.1:27643';
  }
})();

// ---- the run report (the action's `report` output) ---------------------------------------------

export interface ReportPlanItem {
  kind: string;
  name: string;
  action: string;
  namespace?: string;
  reason?: string;
}
export interface ReportPodObject {
  object: string;
  expected?: string;
  mounted?: string;
  ok: boolean;
}
export interface ReportPod {
  namespace: string;
  pod: string;
  workload?: string;
  phase: string;
  ready: boolean;
  objects: ReportPodObject[];
  ok: boolean;
}
export interface RunReport {
  mode: string;
  manifest: string;
  vault?: { name: string; uri?: string; authorization?: string };
  cluster?: { context?: string; server?: string; issuer?: string };
  plan: ReportPlanItem[];
  secrets: Array<{ name: string; version?: string; changed: boolean }>;
  restarted: Array<{ kind: string; namespace: string; name: string; reason: string }>;
  warnings: string[];
  gate?: { passed: boolean; waitedMs: number; pods: ReportPod[]; diagnoses: Array<{ cause: string; message: string; fix: string; namespace?: string; pod?: string }> };
  verified: boolean;
  error?: string;
}

export interface Step extends RunnerResult {
  report: RunReport;
  /** The runner job id this step's GitHub token requests carry. */
  jobId: string;
  startedAt: number;
  endedAt: number;
  /** Sandbox record marks around the step: its requests have `from <= seq < to`. */
  records: { from: number; to: number };
}

/** The gate's row for one mounted secret of a pod (labelled `name`, `name (alias)` or `spc/name (alias)`). */
export function podObject(pod: ReportPod, secret: string): ReportPodObject | undefined {
  return pod.objects.find((o) => o.object === secret || o.object.endsWith(`/${secret}`) || o.object.startsWith(`${secret} (`) || o.object.includes(`/${secret} (`));
}

export function parseReport(r: RunnerResult): RunReport {
  const raw = r.outputs.report;
  if (!raw) throw new Error(`the step wrote no report output (exit ${r.exitCode}); log tail:\n${r.log.slice(-3000)}`);
  return JSON.parse(raw) as RunReport;
}

export function jsonOutput(r: RunnerResult, name: string): string[] {
  const raw = r.outputs[name];
  if (raw === undefined) throw new Error(`output ${name} missing`);
  return JSON.parse(raw) as string[];
}

/** Lines of the log as the runner shows them (no ::add-mask:: commands). */
export function logLines(r: RunnerResult): string[] {
  return r.log.split('\n').filter((l) => !l.startsWith('::add-mask::'));
}

export function errorLines(r: RunnerResult): string[] {
  return logLines(r).filter((l) => l.startsWith('::error'));
}

// ---- the runner ------------------------------------------------------------------------------

export interface StepOptions {
  label: string;
  mode?: 'plan' | 'apply' | 'rotate' | 'verify';
  /** dist/index.js (default) or dist/verify/index.js. */
  entry?: string;
  workspace: string;
  env?: Record<string, string>;
  inputs?: Record<string, string>;
  timeoutMs?: number;
  /** Print the log as it arrives (AKV_AKS_E2E_VERBOSE=1). */
  verbose?: boolean;
}

/**
 * One scenario's runner: every step runs the bundle with the sandbox's environment and a unique
 * runner job id, and every artifact goes to the scenario's leak scan.
 */
export class Runner {
  readonly leaks = new LeakScan();
  readonly steps: Step[] = [];
  private n = 0;

  baseEnv(jobId: string): Record<string, string> {
    const env = sandboxEnvWithKube();
    const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
    if (!url) throw new Error('ACTIONS_ID_TOKEN_REQUEST_URL missing from .sandbox/env.json');
    // The sandbox's runner endpoint accepts any plan/job: a job id of our own marks our requests.
    env.ACTIONS_ID_TOKEN_REQUEST_URL = url.replace(/\/jobs\/[^/]+\/idtoken/, `/jobs/${jobId}/idtoken`);
    // Each scenario is its own repository, so its manifest is its own instance (docs/ownership.md):
    // scenarios sharing the sandbox's cluster never see each other's objects as theirs.
    env.GITHUB_REPOSITORY = this.repository;
    return env;
  }

  /** The repository this scenario's runs act for (the manifest's default owner). */
  readonly repository = `contoso/e2e-${shortId()}`;

  async run(o: StepOptions): Promise<Step> {
    const jobId = randomUUID();
    const sandbox = sandboxEnvWithKube();
    const inputs: Record<string, string> = {
      manifest: 'akv-aks.yaml',
      'client-id': sandbox.AKV_AKS_SANDBOX_CLIENT_ID ?? DEPLOYER_CLIENT_ID,
      'tenant-id': sandbox.AKV_AKS_SANDBOX_TENANT_ID ?? TENANT,
      'subscription-id': sandbox.AKV_AKS_SANDBOX_SUBSCRIPTION_ID ?? SUBSCRIPTION,
      timeout: '3m',
      ...(o.entry && o.entry !== 'dist/index.js' ? {} : { mode: o.mode ?? 'apply' }),
      ...o.inputs,
    };
    const label = `${o.label}#${++this.n}`;
    const from = await recordMark();
    const startedAt = Date.now();
    const verbose = o.verbose ?? process.env.AKV_AKS_E2E_VERBOSE === '1';
    const r = await runAction({
      entry: o.entry,
      inputs,
      env: o.env,
      workspace: o.workspace,
      baseEnv: this.baseEnv(jobId),
      timeoutMs: o.timeoutMs ?? 6 * 60_000,
      onLog: verbose ? (c) => process.stderr.write(c) : undefined,
    });
    this.leaks.addRun(label, r);
    let report: RunReport;
    try {
      report = parseReport(r);
    } catch {
      report = { mode: '', manifest: '', plan: [], secrets: [], restarted: [], warnings: [], verified: false };
    }
    const step: Step = { ...r, report, jobId, startedAt, endedAt: Date.now(), records: { from, to: await recordMark() } };
    this.steps.push(step);
    return step;
  }
}

/** A short, value-free account of a step for assertion messages. */
export function describeStep(s: Step): string {
  const tail = logLines(s)
    .filter((l) => !l.startsWith('::debug::'))
    .slice(-60)
    .join('\n');
  return `exit ${s.exitCode}; outputs ${JSON.stringify({ ...s.outputs, report: undefined })}; error ${s.report.error ?? '-'}\n--- log tail ---\n${tail}`;
}

/** Fails with the step's log tail when the exit code is not the expected one. */
export function expectExit(s: Step, code: number): void {
  if (s.exitCode !== code) throw new Error(`expected exit ${code}, got ${describeStep(s)}`);
}

// ---- the sandbox records of a step ------------------------------------------------------------

/** A step's own sandbox records (and any other client's made during it). */
export async function stepRecords(s: Step): Promise<RequestRecord[]> {
  return (await requestRecords()).filter((r) => r.seq >= s.records.from && r.seq < s.records.to);
}

/** ARM writes (PUT/PATCH/POST/DELETE) during a step whose path mentions one of `needles`. */
export async function armWritesDuring(s: Step, needles: string[]): Promise<RequestRecord[]> {
  const lower = needles.map((n) => n.toLowerCase());
  return (await stepRecords(s)).filter((r) => r.service === 'arm' && isWriteMethod(r.method) && lower.some((n) => r.path.toLowerCase().includes(n)));
}

/** The manifests under test/fixtures/e2e, with `${NAME}` placeholders filled. */
export function fixture(name: string, vars: Record<string, string>): string {
  const text = readFileSync(join(root, 'test', 'fixtures', 'e2e', name), 'utf8');
  return text.replace(/\$\{([A-Z0-9_]+)\}/g, (m, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new Error(`fixture ${name}: no value for ${m}`);
    return v;
  });
}

// ---- a scenario's set-up and tear-down ---------------------------------------------------------

export interface ScenarioOptions {
  /** Names the workspace directory (`akv-aks-e2e-<tag>-…`). */
  tag: string;
  /** Prefix of the vault of the scenario's own (its request counts are the scenario's alone). */
  vaultPrefix: string;
  /** The namespaces and the user-assigned identities (rg-ids) the scenario's runs create: deleted afterwards. */
  namespaces: string[];
  identities: string[];
  /** Secret values the steps get as env: each one goes to the leak scan. */
  env: Record<string, string>;
  /** The manifest written to the workspace as akv-aks.yaml once the vault exists (absent: the test writes its own). */
  manifest?: (vault: TestVault) => string;
}

export interface Scenario {
  readonly runner: Runner;
  readonly az: AzureSide;
  readonly k: Kube;
  readonly vault: TestVault;
  /** The scenario's vault through the SDK, as the deployer. */
  readonly secrets: SecretClient;
  readonly workspace: string;
}

/**
 * Registers the scenario's beforeAll (clients, vault, workspace with its manifest, env values in the
 * leak scan) and afterAll (namespaces, identities and the vault removed); the fields are readable
 * from the tests (and later hooks) on.
 */
export function e2eScenario(o: ScenarioOptions): Scenario {
  const runner = new Runner();
  type Ready = Omit<Scenario, 'runner'>;
  let ready: Ready | undefined;
  const get = <K extends keyof Ready>(key: K): Ready[K] => {
    if (!ready) throw new Error(`e2e scenario ${o.tag}: read before its set-up ran (or the set-up failed)`);
    return ready[key];
  };
  let az: AzureSide | undefined;
  let k: Kube | undefined;
  let vault: TestVault | undefined;

  beforeAll(async () => {
    az = azureSide();
    k = kube();
    vault = await createVault(az, o.vaultPrefix);
    const workspace = mkdtempSync(join(tmpdir(), `akv-aks-e2e-${o.tag}-`));
    if (o.manifest) writeFileSync(join(workspace, 'akv-aks.yaml'), o.manifest(vault));
    for (const [name, value] of Object.entries(o.env)) runner.leaks.addSecret(name, value);
    ready = { az, k, vault, secrets: vaultClient(az, vault.uri), workspace };
  });

  afterAll(async () => {
    if (k) await Promise.all(o.namespaces.map((ns) => deleteNamespace(k!, ns)));
    for (const name of o.identities) await az?.arm.msi.userAssignedIdentities.delete('rg-ids', name).catch(() => undefined);
    await vault?.remove();
  });

  return {
    runner,
    get az() {
      return get('az');
    },
    get k() {
      return get('k');
    },
    get vault() {
      return get('vault');
    },
    get secrets() {
      return get('secrets');
    },
    get workspace() {
      return get('workspace');
    },
  };
}
