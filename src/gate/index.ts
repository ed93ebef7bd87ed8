// The deployment gate: watch the target namespaces (workloads, ReplicaSets, pods, SPC pod statuses,
// warning events, synced Secrets) and re-evaluate on every change until every current pod of every
// consuming workload mounted exactly the expected versions, or the deadline passes.
import * as runner from '../runner/index.ts';
import { createHash } from 'node:crypto';
import type { CoreV1Event, KubernetesListObject, KubernetesObject, V1DaemonSet, V1Deployment, V1Pod, V1ReplicaSet, V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { Manifest } from '../manifest/types.ts';
import type { SecretVersion } from '../plan/types.ts';
import type { KubeSession } from '../kube/client.ts';
import { SPC_GROUP, SPC_VERSION, SPCPS_PLURAL } from '../kube/spcps.ts';
import type { SpcPodStatus } from '../kube/spcps.ts';
import { Mirror } from '../kube/watch.ts';
import { KUBE_CONCURRENCY } from '../names.ts';
import { mapUntilError } from '../util/concurrency.ts';
import { readNamespaces } from '../rotate/index.ts';
import { listAcross } from '../kube/across.ts';
import type { NamespaceSnapshot } from '../rotate/index.ts';
import { evaluateGate } from './evaluate.ts';
import type { GateEvaluation, GateSnapshot, PodReport, SyncedSecretState } from './evaluate.ts';
import type { Diagnosis } from './diagnose.ts';
import { logSafe } from '../util/escape.ts';

export type { Diagnosis, DiagnosisCause } from './diagnose.ts';
export type { PodObjectReport, PodReport, GateSnapshot, SyncedSecretState } from './evaluate.ts';
export { evaluateGate } from './evaluate.ts';
export { classifyMountFailure } from './diagnose.ts';

export interface GateResult {
  passed: boolean;
  pods: PodReport[];
  diagnoses: Diagnosis[];
  waitedMs: number;
  /** Value-free notes (targets nothing consumes...). */
  warnings?: string[];
}

export interface GateRunOptions {
  timeoutMs: number;
  /**
   * How long a settled failure (rollouts complete, pods ready but holding an old version that nothing
   * will refresh) must stay unchanged before the gate fails without waiting for the timeout. Default 5 s;
   * each change seen restarts it.
   */
  settleMs?: number;
  /** When the secrets changed: env consumers must run pods created after it. */
  changedAt?: Date;
  /** The cluster's service-account issuer, quoted in federation diagnoses. */
  issuer?: string;
}

interface NamespaceMirrors {
  namespace: string;
  deployments: Mirror<V1Deployment>;
  statefulSets: Mirror<V1StatefulSet>;
  daemonSets: Mirror<V1DaemonSet>;
  replicaSets: Mirror<V1ReplicaSet>;
  pods: Mirror<V1Pod>;
  spcps: Mirror<SpcPodStatus & KubernetesObject>;
  events: Mirror<CoreV1Event>;
  secrets: Array<Mirror<V1Secret>>;
}

function all(m: NamespaceMirrors): Array<Mirror<KubernetesObject>> {
  return [m.deployments, m.statefulSets, m.daemonSets, m.replicaSets, m.pods, m.spcps, m.events, ...m.secrets] as Array<Mirror<KubernetesObject>>;
}

function mirrorsFor(kube: KubeSession, manifest: Manifest, namespace: string, onChange: () => void): NamespaceMirrors {
  const apps = `/apis/apps/v1/namespaces/${namespace}`;
  const core1 = `/api/v1/namespaces/${namespace}`;
  const synced = [...new Set(manifest.targets.filter((t) => t.namespace === namespace && t.syncTo).map((t) => t.syncTo!.secretName))];
  return {
    namespace,
    deployments: new Mirror(kube, { path: `${apps}/deployments`, list: () => kube.apps.listNamespacedDeployment({ namespace }) }, onChange),
    statefulSets: new Mirror(kube, { path: `${apps}/statefulsets`, list: () => kube.apps.listNamespacedStatefulSet({ namespace }) }, onChange),
    daemonSets: new Mirror(kube, { path: `${apps}/daemonsets`, list: () => kube.apps.listNamespacedDaemonSet({ namespace }) }, onChange),
    replicaSets: new Mirror(kube, { path: `${apps}/replicasets`, list: () => kube.apps.listNamespacedReplicaSet({ namespace }) }, onChange),
    pods: new Mirror(kube, { path: `${core1}/pods`, list: () => kube.core.listNamespacedPod({ namespace }) }, onChange),
    spcps: new Mirror<SpcPodStatus & KubernetesObject>(
      kube,
      {
        path: `/apis/${SPC_GROUP}/${SPC_VERSION}/namespaces/${namespace}/${SPCPS_PLURAL}`,
        list: async () =>
          (await kube.custom.listNamespacedCustomObject({ group: SPC_GROUP, version: SPC_VERSION, namespace, plural: SPCPS_PLURAL })) as KubernetesListObject<SpcPodStatus & KubernetesObject>,
      },
      onChange,
    ),
    events: new Mirror(kube, { path: `${core1}/events`, fieldSelector: 'type=Warning', list: () => kube.core.listNamespacedEvent({ namespace, fieldSelector: 'type=Warning' }) }, onChange),
    secrets: synced.map(
      (name) =>
        new Mirror(
          kube,
          {
            path: `${core1}/secrets`,
            fieldSelector: `metadata.name=${name}`,
            list: () => kube.core.listNamespacedSecret({ namespace, fieldSelector: `metadata.name=${name}` }),
          },
          onChange,
        ),
    ),
  };
}

/** Key names and value digests only: the gate never holds on to a synced value beyond this. */
export function syncedState(secret: V1Secret): SyncedSecretState {
  const keys: Record<string, string> = {};
  for (const [k, v] of Object.entries(secret.data ?? {})) {
    keys[k] = createHash('sha256').update(Buffer.from(v, 'base64')).digest('hex');
  }
  for (const [k, v] of Object.entries(secret.stringData ?? {})) {
    keys[k] = createHash('sha256').update(v, 'utf8').digest('hex');
  }
  return { namespace: secret.metadata?.namespace ?? '', name: secret.metadata?.name ?? '', keys };
}

function snapshotOf(mirrors: NamespaceMirrors[]): GateSnapshot {
  const namespaces: NamespaceSnapshot[] = mirrors.map((m) => ({
    namespace: m.namespace,
    workloads: [
      ...m.deployments.items().map((obj) => ({ kind: 'Deployment' as const, obj })),
      ...m.statefulSets.items().map((obj) => ({ kind: 'StatefulSet' as const, obj })),
      ...m.daemonSets.items().map((obj) => ({ kind: 'DaemonSet' as const, obj })),
    ],
    replicaSets: m.replicaSets.items(),
    pods: m.pods.items(),
    spcps: m.spcps.items(),
    spcpsServed: !m.spcps.notServed,
  }));
  return {
    namespaces,
    events: mirrors.flatMap((m) => m.events.items()),
    secrets: mirrors.flatMap((m) => m.secrets.flatMap((s) => s.items().map(syncedState))),
  };
}

/**
 * The gate's view of the namespaces from one listing each, without watches (undefined when a list
 * fails: the watching gate then retries it). A run that changed no secret usually passes on what is
 * already there, and then pays half the requests of list-then-watch.
 */
async function listOnce(kube: KubeSession, manifest: Manifest, namespaces: string[]): Promise<GateSnapshot | undefined> {
  try {
    const [snaps, events, secrets] = await Promise.all([
      readNamespaces(kube, namespaces),
      listAcross(namespaces, {
        cluster: (limit, _continue) => kube.core.listEventForAllNamespaces({ fieldSelector: 'type=Warning', limit, _continue }),
        namespaced: (namespace) => kube.core.listNamespacedEvent({ namespace, fieldSelector: 'type=Warning' }),
      }),
      mapUntilError(syncedSecretNames(manifest), KUBE_CONCURRENCY, ({ namespace, name }) => kube.core.listNamespacedSecret({ namespace, fieldSelector: `metadata.name=${name}` })),
    ]);
    return { namespaces: snaps, events: namespaces.flatMap((ns) => events.get(ns) ?? []), secrets: secrets.flatMap((l) => l.items.map(syncedState)) };
  } catch (err) {
    runner.debug(`gate: one-shot listing failed, watching instead (${err instanceof Error ? err.message.split('\n')[0] : 'error'})`);
    return undefined;
  }
}

/** The synced Secrets the targets declare, each once, in namespace order. */
function syncedSecretNames(manifest: Manifest): Array<{ namespace: string; name: string }> {
  return targetNamespaces(manifest).flatMap((namespace) =>
    [...new Set(manifest.targets.filter((t) => t.namespace === namespace && t.syncTo).map((t) => t.syncTo!.secretName))].map((name) => ({ namespace, name })),
  );
}

/** The target namespaces, each once, sorted. */
function targetNamespaces(manifest: Manifest): string[] {
  return [...new Set(manifest.targets.map((t) => t.namespace))].sort();
}

/**
 * Watch-based wait (no fixed sleeps) for the affected rollouts, then every current pod of the
 * workloads that mount each target's SPC must have an SPCPS (matching pod UID, mounted: true) whose
 * object versions equal `expected` (secret name -> version), synced Secrets must hold the keys (and
 * content, compared by digest against the vault only if given), env consumers must be pods created
 * after the change.
 */
export async function runGate(kube: KubeSession, manifest: Manifest, expected: SecretVersion[], opts: GateRunOptions): Promise<GateResult> {
  const started = Date.now();
  const namespaces = targetNamespaces(manifest);
  if (namespaces.length === 0) return { passed: true, pods: [], diagnoses: [], waitedMs: 0, warnings: [] };
  if (expected.every((s) => !s.changed)) {
    const once = await listOnce(kube, manifest, namespaces);
    const e = once && evaluateGate(manifest, expected, once, { changedAt: opts.changedAt, issuer: opts.issuer, final: false });
    if (e && (e.passed || e.fatal)) return gateResult(e, started);
  }
  return new GateWatch(kube, manifest, expected, opts, namespaces).run(started);
}

function gateResult(e: GateEvaluation, started: number): GateResult {
  const waitedMs = Date.now() - started;
  for (const w of e.warnings) runner.debug(`gate: ${w}`);
  return { passed: e.passed, pods: e.pods, diagnoses: e.diagnoses, waitedMs, warnings: e.warnings };
}

/** The failed evaluation when some collection could not be read before the deadline. */
function unreadable(failing: Array<Mirror<KubernetesObject>>): GateEvaluation {
  return {
    passed: false,
    pods: [],
    pending: failing.map((m) => m.path),
    warnings: [],
    fatal: false,
    settled: false,
    diagnoses: [
      {
        cause: 'timeout',
        message: `could not read ${failing.map((m) => `${m.path}${m.lastError ? ` (${m.lastError})` : ''}`).join(', ')}`,
        fix: 'check the kubeconfig credentials can list and watch pods, events, secrets, workloads and secretproviderclasspodstatuses in the target namespaces',
      },
    ],
  };
}

/** One watching wait: mirrors of every namespace, re-evaluated on each change until it decides. */
class GateWatch {
  private finished = false;
  private scheduled = false;
  private ready = false;
  private lastPending = '';
  private settleTimer: NodeJS.Timeout | undefined;
  private settle: (e: GateEvaluation) => void = () => undefined;
  private readonly done = new Promise<GateEvaluation>((resolve) => {
    this.settle = resolve;
  });
  private readonly mirrors: NamespaceMirrors[];
  private readonly manifest: Manifest;
  private readonly expected: SecretVersion[];
  private readonly opts: GateRunOptions;

  constructor(kube: KubeSession, manifest: Manifest, expected: SecretVersion[], opts: GateRunOptions, namespaces: string[]) {
    this.manifest = manifest;
    this.expected = expected;
    this.opts = opts;
    this.mirrors = namespaces.map((ns) => mirrorsFor(kube, manifest, ns, () => this.onChange()));
  }

  async run(started: number): Promise<GateResult> {
    const timer = setTimeout(() => this.onDeadline(), Math.max(0, this.opts.timeoutMs));
    try {
      // The deadline also bounds the start: a list or watch that never answers cannot hold the gate.
      const startedAll = Promise.all(this.everyMirror().map((m) => m.start())).then(() => this.onStarted());
      await Promise.race([startedAll, this.done]);
      return gateResult(await this.done, started);
    } finally {
      this.finished = true;
      clearTimeout(timer);
      if (this.settleTimer) clearTimeout(this.settleTimer);
      await Promise.all(this.everyMirror().map((m) => m.stop()));
    }
  }

  private everyMirror(): Array<Mirror<KubernetesObject>> {
    return this.mirrors.flatMap(all);
  }

  private known(): boolean {
    return this.everyMirror().every((m) => m.listed || m.notServed);
  }

  private evaluate(final: boolean): GateEvaluation {
    return evaluateGate(this.manifest, this.expected, snapshotOf(this.mirrors), { changedAt: this.opts.changedAt, issuer: this.opts.issuer, final });
  }

  private finish(e: GateEvaluation): void {
    this.finished = true;
    this.settle(e);
  }

  private onStarted(): void {
    for (const m of this.everyMirror()) {
      if (m.lastError && !m.notServed) runner.debug(`gate: ${m.path}: ${m.lastError}`);
    }
    this.ready = true;
    this.check();
  }

  private onChange(): void {
    if (this.scheduled || this.finished) return;
    this.scheduled = true;
    setImmediate(() => this.check());
  }

  private onDeadline(): void {
    if (this.finished) return;
    this.finish(this.known() ? this.evaluate(true) : unreadable(this.everyMirror().filter((m) => !m.listed && !m.notServed)));
  }

  private check(): void {
    this.scheduled = false;
    if (this.finished || !this.ready || !this.known()) return;
    const e = this.evaluate(false);
    if (this.settleTimer) {
      clearTimeout(this.settleTimer);
      this.settleTimer = undefined;
    }
    if (e.passed || e.fatal) {
      this.finish(e);
      return;
    }
    if (e.settled) this.settleTimer = setTimeout(() => this.onSettled(), this.opts.settleMs ?? 5_000);
    this.logPending(e.pending);
  }

  /** Debounce, not a poll: any change seen before it fires clears it and re-evaluates. */
  private onSettled(): void {
    if (this.finished) return;
    const last = this.evaluate(true);
    if (!last.settled && !last.passed) return;
    this.finish(last);
  }

  private logPending(items: string[]): void {
    const pending = items.join('; ');
    if (pending === this.lastPending) return;
    this.lastPending = pending;
    runner.info(`gate: waiting for ${items.length} item(s): ${logSafe(items.slice(0, 3).join('; '), 600)}${items.length > 3 ? '; …' : ''}`);
  }
}
