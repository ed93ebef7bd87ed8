// The measured scenarios. Secret values are random per run, held only in memory and never printed
// (the action's own log lines, which carry ::add-mask:: commands, are swallowed by run.ts).
import { randomBytes } from 'node:crypto';
import type { SecretClient } from '@azure/keyvault-secrets';
import type { V1Deployment } from '@kubernetes/client-node';
import { Watch } from '@kubernetes/client-node';
import { secretClient } from '../../src/auth/arm.ts';
import type { AzureSession } from '../../src/auth/login.ts';
import { runGate } from '../../src/gate/index.ts';
import type { GateResult } from '../../src/gate/index.ts';
import { ensureIdentities } from '../../src/identity/index.ts';
import { applyKubeObjects } from '../../src/kube/apply.ts';
import type { KubeSession } from '../../src/kube/client.ts';
import type { Manifest, SecretSpec, TargetSpec } from '../../src/manifest/types.ts';
import type { SecretVersion } from '../../src/plan/types.ts';
import { restartChangedWorkloads } from '../../src/rotate/index.ts';
import { describeVault, syncSecrets } from '../../src/vault/index.ts';
import { diffCounters } from './format.ts';
import type { VaultCounters } from './format.ts';
import { adminKube, BENCH_REPOSITORY, control, vaultCounters } from './sandbox.ts';
import type { BenchVault } from './sandbox.ts';
import { manifestInstance } from '../../src/manifest/instance.ts';
import type { VaultInfo } from '../../src/keyvault/model.ts';

export interface Phase {
  ms: number;
  counters: VaultCounters;
  /** When the phase's last request was sent (ms epoch), for throttle-window pauses. */
  endedAt: number;
}

export interface Layout {
  runId: string;
  cluster: string;
  secrets: number;
  namespaces: string[];
  identityRg: string;
}

export const secretName = (i: number): string => `bench-s-${String(i).padStart(4, '0')}`;
const envName = (i: number): string => `BENCH_S_${String(i).padStart(4, '0')}`;
export const SERVICE_ACCOUNT = 'bench-app';
export const SPC = 'bench-secrets';

/** Random values for the run, keyed by environment variable (the action reads env-sourced secrets). */
export function secretValues(n: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (let i = 0; i < n; i++) env[envName(i)] = randomBytes(18).toString('base64url');
  return env;
}

/** Secrets spread evenly over the namespaces; each namespace mounts its share through one SPC. */
export function benchManifest(vault: BenchVault, layout: Layout): Manifest {
  const secrets: SecretSpec[] = [];
  for (let i = 0; i < layout.secrets; i++) secrets.push({ name: secretName(i), source: { kind: 'env', env: envName(i) }, tags: {}, adopt: false });
  const targets: TargetSpec[] = layout.namespaces.map((namespace, t) => ({
    namespace,
    createNamespace: true,
    serviceAccount: SERVICE_ACCOUNT,
    identity: { mode: 'managed', name: `id-${layout.runId}-${t}`, resourceGroup: layout.identityRg, location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    secretProviderClass: SPC,
    objects: secrets.filter((_, i) => i % layout.namespaces.length === t).map((s) => ({ secret: s.name, objectType: 'secret' as const })),
    rotation: 'restart',
  }));
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: BENCH_REPOSITORY, path: 'akv-aks.yaml', cluster: layout.cluster }),
    vault: { name: vault.name, resourceGroup: 'rg-sandbox' },
    cluster: { name: layout.cluster },
    identityDefaults: { resourceGroup: layout.identityRg, location: 'westeurope', tags: {} },
    secrets,
    targets,
    prune: false,
    purge: false,
  };
}

async function measure(vault: string, fn: () => Promise<void>): Promise<Phase> {
  const before = await vaultCounters(vault);
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const endedAt = Date.now();
  return { ms, counters: diffCounters(before, await vaultCounters(vault)), endedAt };
}

/** What the reference guides' CLI loops do: per secret, in order, `az keyvault secret show` then `set` (always writes). */
export async function baselineSync(client: SecretClient, manifest: Manifest, env: Record<string, string>): Promise<void> {
  for (const s of manifest.secrets) {
    if (s.source.kind !== 'env') continue;
    const value = env[s.source.env] ?? '';
    try {
      await client.getSecret(s.name);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
    await client.setSecret(s.name, value);
  }
}

export interface SyncRun {
  phase: Phase;
  secrets: SecretVersion[];
}

/** The action's vault engine (syncSecrets, apply) on an already described vault. */
export async function engineSync(session: AzureSession, vault: VaultInfo, manifest: Manifest, env: Record<string, string>): Promise<SyncRun> {
  let secrets: SecretVersion[] = [];
  const phase = await measure(vault.name, async () => {
    const r = await syncSecrets(session, vault, manifest, { mode: 'apply', env, now: new Date(), commit: 'bench' });
    secrets = r.secrets;
  });
  return { phase, secrets };
}

export async function baselineRun(session: AzureSession, vault: BenchVault, manifest: Manifest, env: Record<string, string>): Promise<Phase> {
  const client = await secretClient(session.credential, session.cloud, vault.uri);
  return measure(vault.name, () => baselineSync(client, manifest, env));
}

export async function describe(session: AzureSession, manifest: Manifest): Promise<VaultInfo> {
  return describeVault(session, manifest);
}

/** Adds a fixed delay to every request of one vault (a region round trip), for both sides alike. */
export async function addVaultLatency(vault: string, ms: number): Promise<void> {
  await control('POST', '/vault/faults', { vault, effect: { kind: 'latency', ms }, times: 10_000_000 });
}

/** Takes addVaultLatency back (the vault's faults and settle windows cleared). */
export async function clearVaultLatency(vault: string): Promise<void> {
  await control('DELETE', '/vault/faults', { vault });
}

export interface FullRun {
  /** Wall time of each step, in pipeline order. */
  steps: { name: string; ms: number }[];
  totalMs: number;
  counters: VaultCounters;
  secrets: SecretVersion[];
  itemsByAction: Record<string, number>;
}

/**
 * The action's Azure + Kubernetes steps as src/pipeline/run.ts sequences them for `mode: apply`
 * after login and Vaults_Get: vault sync, identities (+ federation + role), Kubernetes objects,
 * rotation. Proof of access and the gate are measured separately (they wait on pods).
 */
export async function engineFullRun(
  session: AzureSession,
  vault: VaultInfo,
  manifest: Manifest,
  env: Record<string, string>,
  opts: { issuer: string; kube?: KubeSession; tenantId: string },
): Promise<FullRun> {
  const steps: { name: string; ms: number }[] = [];
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    steps.push({ name, ms: performance.now() - t0 });
    return r;
  };
  const items: { action: string }[] = [];
  let secrets: SecretVersion[] = [];
  const before = await vaultCounters(vault.name);
  const t0 = performance.now();
  const sync = await step('vault sync', () => syncSecrets(session, vault, manifest, { mode: 'apply', env, now: new Date(), commit: 'bench' }));
  items.push(...sync.items);
  secrets = sync.secrets;
  const ids = await step('identities', () => ensureIdentities(session, vault, manifest, { mode: 'apply', issuer: opts.issuer }));
  items.push(...ids.items);
  const kube = opts.kube;
  if (kube) {
    const clientIds: Record<string, string> = {};
    for (const i of ids.identities) if (i.clientId) clientIds[i.namespace] = i.clientId;
    items.push(...(await step('kubernetes objects', () => applyKubeObjects(kube, manifest, { tenantId: opts.tenantId, cloudName: 'AzurePublicCloud', clientIds }, { mode: 'apply' }))));
    const rot = await step('rotation', () => restartChangedWorkloads(kube, manifest, secrets, { mode: 'apply' }));
    items.push(...rot.items);
  }
  const totalMs = performance.now() - t0;
  const counters = diffCounters(before, await vaultCounters(vault.name));
  const itemsByAction: Record<string, number> = {};
  for (const it of items) itemsByAction[it.action] = (itemsByAction[it.action] ?? 0) + 1;
  return { steps, totalMs, counters, secrets, itemsByAction };
}

// ---------------------------------------------------------------------------------------------
// Gate latency

export interface GateRound {
  /** From the last new pod's mounted SPCPS (as a watch in the bench saw it) to runGate's pass. */
  latencyMs: number;
  /** From the last new pod seen Ready (the gate counts only Ready pods) to runGate's pass. */
  readyLatencyMs: number;
  /** runGate's own waited time. */
  waitedMs: number;
  passed: boolean;
  /** The last SPCPS arrived after the gate started (so the latency is an update-to-pass latency). */
  valid: boolean;
  pods: number;
  failure?: string;
}

function deployment(namespace: string, name: string, replicas: number): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          serviceAccountName: SERVICE_ACCOUNT,
          containers: [{ name: 'app', image: 'registry.invalid/bench:1', volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets', readOnly: true }] }],
          volumes: [{ name: 'secrets', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: SPC } } }],
        },
      },
    },
  };
}

interface MountEvent {
  at: number;
  pod: string;
  /** An SPCPS saying mounted, or the pod's Ready condition turning True. */
  kind: 'mounted' | 'ready';
}

type WatchedObject = { metadata?: { name?: string }; status?: { podName?: string; mounted?: boolean; conditions?: Array<{ type?: string; status?: string }> } };

/** The bench's own watches: each SPCPS that says mounted, and each pod seen Ready, with the time seen. */
async function watchMounts(namespaces: string[], sink: MountEvent[]): Promise<() => void> {
  const w = new Watch(adminKube().kc);
  const aborts: AbortController[] = [];
  const record = (kind: MountEvent['kind'], pod: (o: WatchedObject) => string | undefined, seen: (o: WatchedObject) => boolean) => (type: string, obj: WatchedObject) => {
    if ((type === 'ADDED' || type === 'MODIFIED') && seen(obj)) sink.push({ at: Date.now(), pod: pod(obj) ?? '', kind });
  };
  const mounted = record(
    'mounted',
    (o) => o.status?.podName,
    (o) => o.status?.mounted === true,
  );
  const ready = record(
    'ready',
    (o) => o.metadata?.name,
    (o) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true,
  );
  for (const ns of namespaces) {
    aborts.push(await w.watch(`/apis/secrets-store.csi.x-k8s.io/v1/namespaces/${ns}/secretproviderclasspodstatuses`, {}, mounted, () => undefined));
    aborts.push(await w.watch(`/api/v1/namespaces/${ns}/pods`, {}, ready, () => undefined));
  }
  return () => {
    for (const a of aborts) a.abort();
  };
}

/** When the last of the round's pods was first seen so (NaN when none was). */
function lastFirstSeen(events: MountEvent[], kind: MountEvent['kind'], podPrefix: string): { last: number; pods: number } {
  const firstPerPod = new Map<string, number>();
  for (const e of events) if (e.kind === kind && e.pod.startsWith(podPrefix) && !firstPerPod.has(e.pod)) firstPerPod.set(e.pod, e.at);
  return { last: firstPerPod.size ? Math.max(...firstPerPod.values()) : NaN, pods: firstPerPod.size };
}

/**
 * One round: a new Deployment (replicas pods mounting the SPC) per namespace, then runGate in-process.
 * The bench's own watches timestamp each pod's mounted SPCPS and its Ready; latency = pass - the last
 * mount (and, for context, pass - the last Ready: the gate counts a pod once it is Ready).
 */
export async function gateRound(kube: KubeSession, manifest: Manifest, expected: SecretVersion[], namespaces: string[], round: number, replicas: number): Promise<GateRound> {
  const gateManifest: Manifest = { ...manifest, targets: manifest.targets.filter((t) => namespaces.includes(t.namespace)) };
  const name = `bench-app-${round}`;
  const events: MountEvent[] = [];
  const stop = await watchMounts(namespaces, events);
  const admin = adminKube();
  try {
    for (const ns of namespaces) await admin.apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, name, replicas) });
    const gateStart = Date.now();
    let result: GateResult;
    try {
      result = await runGate(kube, gateManifest, expected, { timeoutMs: 60_000 });
    } catch (e) {
      return { latencyMs: NaN, readyLatencyMs: NaN, waitedMs: Date.now() - gateStart, passed: false, valid: false, pods: 0, failure: (e as Error).message };
    }
    const passedAt = Date.now();
    const mounted = lastFirstSeen(events, 'mounted', `${name}-`);
    const ready = lastFirstSeen(events, 'ready', `${name}-`);
    const failure = result.passed ? undefined : result.diagnoses.map((d) => `${d.cause}: ${d.message}`).join('; ') || 'did not pass';
    return {
      latencyMs: passedAt - mounted.last,
      readyLatencyMs: passedAt - ready.last,
      waitedMs: result.waitedMs,
      passed: result.passed,
      valid: mounted.pods >= namespaces.length * replicas && mounted.last >= gateStart,
      pods: mounted.pods,
      failure,
    };
  } finally {
    stop();
  }
}
