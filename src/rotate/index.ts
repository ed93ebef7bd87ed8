// Targeted rotation: restart exactly the workloads whose mounted objects changed (see decide.ts for
// the digest rules), one template write per workload, under the workload's own update strategy.
import * as runner from '../runner/index.ts';
import type { KubernetesObject, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import type { Manifest } from '../manifest/types.ts';
import type { PlanItem, SecretVersion } from '../plan/types.ts';
import type { KubeSession } from '../kube/client.ts';
import { errorSummary, kubeStatusOf } from '../kube/client.ts';
import { PatchStrategy } from '../kube/api.ts';
import { listAcross } from '../kube/across.ts';
import type { AcrossLists, ListPage } from '../kube/across.ts';
import { mountedVersions, spcpsFor, SPC_GROUP, SPC_VERSION, SPCPS_PLURAL } from '../kube/spcps.ts';
import type { SpcPodStatus } from '../kube/spcps.ts';
import type { Workload } from '../kube/workloads.ts';
import { currentPods, onDeleteStrategy, refOf, templateOf } from '../kube/workloads.ts';
import { discoverConsumption, needsNewPod, workloadKey } from './discovery.ts';
import type { ConsumedTarget } from './discovery.ts';
import { decideRestart, indexVersions, mountedVersionsDigest } from './decide.ts';
import type { PodEvidence, RestartDecision, VersionsByName, WorkloadObservation } from './decide.ts';
import { DIGEST_ANNOTATION, FIELD_MANAGER, KUBE_CONCURRENCY } from '../names.ts';
import { mapUntilError, semaphore } from '../util/concurrency.ts';

export interface RestartedWorkload {
  kind: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  namespace: string;
  name: string;
  reason: string;
}

/** What the cluster holds in one namespace, as far as rotation and the gate need it. */
export interface NamespaceSnapshot {
  namespace: string;
  workloads: Workload[];
  replicaSets: V1ReplicaSet[];
  pods: V1Pod[];
  spcps: SpcPodStatus[];
  /** False when the SecretProviderClassPodStatus CRD is not served (driver not installed). */
  spcpsServed: boolean;
}

type Run = <R>(fn: () => Promise<R>) => Promise<R>;
const direct: Run = (fn) => fn();

/** One kind over the namespaces (src/kube/across.ts); a failed per-namespace list names its namespace. */
function across<T extends { metadata?: { namespace?: string } }>(namespaces: readonly string[], run: Run, lists: AcrossLists<T>): Promise<Map<string, T[]>> {
  return listAcross(
    namespaces,
    {
      cluster: lists.cluster,
      namespaced: (namespace) =>
        lists.namespaced(namespace).catch((err: unknown) => {
          throw new NamespaceListError(namespace, err);
        }),
    },
    run,
  );
}

/** Each kind's two lists: cluster-wide with a page limit, and one namespace's. */
function kindLists(kube: KubeSession) {
  return {
    deployments: {
      cluster: (limit: number, _continue?: string) => kube.apps.listDeploymentForAllNamespaces({ limit, _continue }),
      namespaced: (namespace: string) => kube.apps.listNamespacedDeployment({ namespace }),
    },
    statefulSets: {
      cluster: (limit: number, _continue?: string) => kube.apps.listStatefulSetForAllNamespaces({ limit, _continue }),
      namespaced: (namespace: string) => kube.apps.listNamespacedStatefulSet({ namespace }),
    },
    daemonSets: {
      cluster: (limit: number, _continue?: string) => kube.apps.listDaemonSetForAllNamespaces({ limit, _continue }),
      namespaced: (namespace: string) => kube.apps.listNamespacedDaemonSet({ namespace }),
    },
    replicaSets: {
      cluster: (limit: number, _continue?: string) => kube.apps.listReplicaSetForAllNamespaces({ limit, _continue }),
      namespaced: (namespace: string) => kube.apps.listNamespacedReplicaSet({ namespace }),
    },
    pods: { cluster: (limit: number, _continue?: string) => kube.core.listPodForAllNamespaces({ limit, _continue }), namespaced: (namespace: string) => kube.core.listNamespacedPod({ namespace }) },
  };
}

/** A per-namespace list that failed, with the namespace it was for. */
export class NamespaceListError extends Error {
  readonly namespace: string;
  override readonly cause: unknown;
  constructor(namespace: string, cause: unknown) {
    super(`cannot list in namespace ${namespace}: ${errorSummary(cause)}`);
    this.name = 'NamespaceListError';
    this.namespace = namespace;
    this.cause = cause;
  }
}

/** The Deployments, StatefulSets and DaemonSets of each namespace (three lists, cluster-wide when allowed). */
async function readWorkloads(kube: KubeSession, namespaces: readonly string[], run: Run = direct): Promise<Map<string, Workload[]>> {
  const lists = kindLists(kube);
  const [deps, stss, dss] = await Promise.all([across(namespaces, run, lists.deployments), across(namespaces, run, lists.statefulSets), across(namespaces, run, lists.daemonSets)]);
  return new Map(
    namespaces.map((ns) => [
      ns,
      [
        ...(deps.get(ns) ?? []).map((obj) => ({ kind: 'Deployment' as const, obj })),
        ...(stss.get(ns) ?? []).map((obj) => ({ kind: 'StatefulSet' as const, obj })),
        ...(dss.get(ns) ?? []).map((obj) => ({ kind: 'DaemonSet' as const, obj })),
      ],
    ]),
  );
}

/** What pods run in the namespace and what they mounted: ReplicaSets, Pods, SecretProviderClassPodStatuses. */
async function readPods(kube: KubeSession, namespace: string, run: Run = direct): Promise<Omit<NamespaceSnapshot, 'namespace' | 'workloads'>> {
  const spcpsList = async (): Promise<{ spcps: SpcPodStatus[]; spcpsServed: boolean }> => {
    try {
      const list = (await kube.custom.listNamespacedCustomObject({
        group: SPC_GROUP,
        version: SPC_VERSION,
        namespace,
        plural: SPCPS_PLURAL,
      })) as { items?: SpcPodStatus[] };
      return { spcps: list.items ?? [], spcpsServed: true };
    } catch (err) {
      if (kubeStatusOf(err) !== 404) throw err;
      return { spcps: [], spcpsServed: false };
    }
  };
  const [rss, pods, s] = await Promise.all([run(() => kube.apps.listNamespacedReplicaSet({ namespace })), run(() => kube.core.listNamespacedPod({ namespace })), run(spcpsList)]);
  return { replicaSets: rss.items, pods: pods.items, spcps: s.spcps, spcpsServed: s.spcpsServed };
}

/** SecretProviderClassPodStatuses of each namespace; undefined when the CRD is not served (driver not installed). */
async function readSpcps(kube: KubeSession, namespaces: readonly string[], run: Run): Promise<Map<string, SpcPodStatus[]> | undefined> {
  const opts = { group: SPC_GROUP, version: SPC_VERSION, plural: SPCPS_PLURAL };
  try {
    return await across<SpcPodStatus & { metadata?: { namespace?: string } }>(namespaces, run, {
      cluster: async (limit, _continue) => (await kube.custom.listClusterCustomObject({ ...opts, limit, _continue })) as ListPage<SpcPodStatus>,
      namespaced: async (namespace) => (await kube.custom.listNamespacedCustomObject({ ...opts, namespace })) as ListPage<SpcPodStatus>,
    });
  } catch (err) {
    if (err instanceof NamespaceListError && kubeStatusOf(err.cause) === 404) return undefined;
    throw err;
  }
}

/** Snapshots of the namespaces from one listing of each kind (cluster-wide when allowed: six requests). */
export async function readNamespaces(kube: KubeSession, namespaces: readonly string[], run: Run = direct): Promise<NamespaceSnapshot[]> {
  const lists = kindLists(kube);
  const [workloads, rss, pods, spcps] = await Promise.all([
    readWorkloads(kube, namespaces, run),
    across(namespaces, run, lists.replicaSets),
    across(namespaces, run, lists.pods),
    readSpcps(kube, namespaces, run),
  ]);
  return namespaces.map((namespace) => ({
    namespace,
    workloads: workloads.get(namespace) ?? [],
    replicaSets: rss.get(namespace) ?? [],
    pods: pods.get(namespace) ?? [],
    spcps: spcps?.get(namespace) ?? [],
    spcpsServed: spcps !== undefined,
  }));
}

export interface WorkloadConsumption {
  workload: Workload;
  consumed: ConsumedTarget[];
}

/** Workloads of a snapshot whose pod templates consume any target of the manifest. */
export function consumersIn(snap: NamespaceSnapshot, manifest: Manifest): WorkloadConsumption[] {
  const out: WorkloadConsumption[] = [];
  for (const w of snap.workloads) {
    const consumed = discoverConsumption(snap.namespace, templateOf(w)?.spec, manifest.targets);
    if (consumed.length) out.push({ workload: w, consumed });
  }
  return out;
}

export function observe(wc: WorkloadConsumption, snap: NamespaceSnapshot): WorkloadObservation {
  const pods: PodEvidence[] = currentPods(wc.workload, snap.pods, snap.replicaSets).map((p) => {
    const mounted = new Map<string, ReadonlyMap<string, string>>();
    for (const c of wc.consumed) {
      const s = spcpsFor(p, c.target.secretProviderClass, snap.spcps);
      if (s?.status?.mounted) mounted.set(c.target.secretProviderClass, mountedVersions(s));
    }
    const created = p.metadata?.creationTimestamp;
    return { name: p.metadata?.name ?? '', createdAt: created ? new Date(created) : undefined, mounted };
  });
  return {
    ref: refOf(wc.workload),
    templateDigest: templateOf(wc.workload)?.metadata?.annotations?.[DIGEST_ANNOTATION],
    recordedDigest: wc.workload.obj.metadata?.annotations?.[DIGEST_ANNOTATION],
    consumed: wc.consumed,
    pods,
  };
}

/** Value-free warnings about consumers that restarts (or CSI rotation) cannot refresh. */
export function consumptionWarnings(wc: WorkloadConsumption): string[] {
  const ref = refOf(wc.workload);
  const who = `${ref.kind} ${ref.namespace}/${ref.name}`;
  const warnings: string[] = [];
  for (const c of wc.consumed) {
    if (c.subPathMounts.length) {
      warnings.push(`${who} mounts ${c.target.secretProviderClass} through subPath (${c.subPathMounts.join(', ')}): subPath files are never updated in place; only a restart refreshes them`);
    }
    if (c.target.rotation === 'csi' && needsNewPod(c)) {
      warnings.push(`${who} reads the synced Secret ${c.target.syncTo?.secretName ?? ''} as environment variables: with rotation: csi its pods keep the old values until they restart`);
    }
    if (c.missingKeys.length) {
      warnings.push(`${who} reads keys ${c.missingKeys.join(', ')} of ${c.target.syncTo?.secretName ?? ''} that the manifest does not sync`);
    }
  }
  if (onDeleteStrategy(wc.workload) && wc.consumed.some((c) => c.target.rotation === 'restart')) {
    warnings.push(`${who} uses updateStrategy OnDelete: a restart updates its template but its pods are replaced only when deleted`);
  }
  if (wc.workload.kind === 'Deployment' && wc.workload.obj.spec?.paused) {
    warnings.push(`${who} is paused: a restart takes effect when it is resumed`);
  }
  return warnings;
}

const API_VERSION = { Deployment: 'apps/v1', StatefulSet: 'apps/v1', DaemonSet: 'apps/v1' } as const;

function patchBody(wc: WorkloadConsumption, decision: RestartDecision): KubernetesObject & Record<string, unknown> {
  const ref = refOf(wc.workload);
  const digest = decision.digest ?? '';
  const body: KubernetesObject & Record<string, unknown> = {
    apiVersion: API_VERSION[ref.kind],
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace, annotations: { [DIGEST_ANNOTATION]: digest } },
  };
  if (decision.action === 'restart') {
    body.spec = { template: { metadata: { annotations: { [DIGEST_ANNOTATION]: digest } } } };
  }
  return body;
}

/**
 * When this run started (the process start: the action runs once per process). Pods created after it
 * cannot predate a secret version this run wrote, so they are not evidence of old content.
 */
export function runStartedAt(): Date {
  return new Date(Date.now() - process.uptime() * 1000);
}

/** What one rotation run decides with: the session, the versions and how far it may write. */
interface Rotation {
  kube: KubeSession;
  manifest: Manifest;
  versions: VersionsByName;
  changeTime: Date;
  mode: 'plan' | 'apply';
  /** The shared request limiter. */
  request: Run;
}

interface RotationOutcome {
  items: PlanItem[];
  restarted: RestartedWorkload[];
  warnings: string[];
}

export async function restartChangedWorkloads(kube: KubeSession, manifest: Manifest, secrets: SecretVersion[], opts: { mode: 'plan' | 'apply'; changedAt?: Date }): Promise<RotationOutcome> {
  const namespaces = [...new Set(manifest.targets.map((t) => t.namespace))].sort();
  const r: Rotation = { kube, manifest, versions: indexVersions(secrets), changeTime: opts.changedAt ?? runStartedAt(), mode: opts.mode, request: semaphore(KUBE_CONCURRENCY) };
  const listed = await readWorkloads(kube, namespaces, r.request).catch((err: unknown) => {
    if (err instanceof NamespaceListError) throw new Error(`cannot list workloads in namespace ${err.namespace}: ${errorSummary(err.cause)}`);
    throw err;
  });
  // Namespaces are independent: a few at a time, each outcome kept in namespace order.
  const outcomes = await mapUntilError(namespaces, KUBE_CONCURRENCY, (ns) => rotateNamespace(r, ns, listed.get(ns) ?? []));
  // Warnings are returned for the caller to publish (annotations / summary), not printed twice here.
  return { items: outcomes.flatMap((o) => o.items), restarted: outcomes.flatMap((o) => o.restarted), warnings: outcomes.flatMap((o) => o.warnings) };
}

/**
 * The namespace as rotation needs it. Pods are evidence only for a consumer with no digest recorded
 * yet (decideRestart's first deploy): when every consumer has one, the digests alone decide and the
 * pods are not listed.
 */
async function rotationSnapshot(r: Rotation, ns: string, workloads: Workload[]): Promise<NamespaceSnapshot> {
  try {
    const snap: NamespaceSnapshot = { namespace: ns, workloads, replicaSets: [], pods: [], spcps: [], spcpsServed: true };
    const needsPods = consumersIn(snap, r.manifest).some((wc) => {
      const obs = { templateDigest: templateOf(wc.workload)?.metadata?.annotations?.[DIGEST_ANNOTATION], recordedDigest: wc.workload.obj.metadata?.annotations?.[DIGEST_ANNOTATION] };
      return (obs.templateDigest ?? obs.recordedDigest) === undefined && mountedVersionsDigest(wc.consumed, r.versions) !== undefined;
    });
    return needsPods ? { namespace: ns, workloads, ...(await readPods(r.kube, ns, r.request)) } : snap;
  } catch (err) {
    throw new Error(`cannot list workloads in namespace ${ns}: ${errorSummary(err)}`);
  }
}

async function rotateNamespace(r: Rotation, ns: string, workloads: Workload[]): Promise<RotationOutcome> {
  const out: RotationOutcome = { items: [], restarted: [], warnings: [] };
  const snap = await rotationSnapshot(r, ns, workloads);
  const seen = new Set<string>();
  for (const wc of consumersIn(snap, r.manifest)) {
    const key = workloadKey(refOf(wc.workload));
    if (seen.has(key)) continue;
    seen.add(key);
    out.warnings.push(...consumptionWarnings(wc));
    await rotateWorkload(r, wc, snap, out);
  }
  return out;
}

/** Decides one workload, and in apply mode restarts it or records its versions. */
async function rotateWorkload(r: Rotation, wc: WorkloadConsumption, snap: NamespaceSnapshot, out: RotationOutcome): Promise<void> {
  const ref = refOf(wc.workload);
  const decision = decideRestart(observe(wc, snap), r.versions, r.changeTime);
  const name = `${ref.namespace}/${ref.name}`;
  const reason = `${ref.kind}: ${decision.reason}`;
  out.items.push({ kind: 'workload', name, namespace: ref.namespace, action: decision.action === 'restart' ? 'restart' : 'unchanged', reason });
  if (r.mode === 'plan' || decision.action === 'unchanged') {
    runner.debug(`rotation: ${ref.kind} ${name}: ${decision.action} (${decision.reason})`);
    return;
  }
  try {
    await r.request(() => r.kube.objects.patch(patchBody(wc, decision), { strategy: PatchStrategy.MergePatch, fieldManager: FIELD_MANAGER }));
  } catch (err) {
    throw new Error(`cannot ${decision.action === 'restart' ? 'restart' : 'annotate'} ${ref.kind} ${name}: ${errorSummary(err)}`);
  }
  if (decision.action === 'restart') {
    out.restarted.push({ kind: ref.kind, namespace: ref.namespace, name: ref.name, reason: decision.reason });
    runner.info(`Restarted ${ref.kind} ${name}: ${decision.reason}`);
  } else {
    runner.info(`Recorded mounted versions on ${ref.kind} ${name} (first deploy, no rollout)`);
  }
}
