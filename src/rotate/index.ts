// Targeted rotation: restart exactly the workloads whose mounted objects changed (see decide.ts for
// the digest rules), one template write per workload, under the workload's own update strategy.
import * as core from '@actions/core';
import { PatchStrategy } from '@kubernetes/client-node';
import type { KubernetesObject, V1Pod, V1ReplicaSet } from '@kubernetes/client-node';
import type { Manifest } from '../manifest/types.ts';
import type { PlanItem, SecretVersion } from '../plan/types.ts';
import type { KubeSession } from '../kube/client.ts';
import { errorSummary, kubeStatusOf } from '../kube/client.ts';
import { listAcross } from '../kube/across.ts';
import { mountedVersions, spcpsFor, SPC_GROUP, SPC_VERSION, SPCPS_PLURAL } from '../kube/spcps.ts';
import type { SpcPodStatus } from '../kube/spcps.ts';
import type { Workload } from '../kube/workloads.ts';
import { currentPods, onDeleteStrategy, refOf, templateOf } from '../kube/workloads.ts';
import { discoverConsumption, needsNewPod, workloadKey } from './discovery.ts';
import type { ConsumedTarget } from './discovery.ts';
import { decideRestart, indexVersions, mountedVersionsDigest } from './decide.ts';
import type { PodEvidence, RestartDecision, WorkloadObservation } from './decide.ts';
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

type Listed<T> = Promise<{ items: T[]; metadata?: { _continue?: string } }>;

/** One kind over the namespaces (src/kube/across.ts); a failed per-namespace list names its namespace. */
function across<T extends { metadata?: { namespace?: string } }>(
  namespaces: readonly string[],
  run: Run,
  cluster: (limit: number) => Listed<T>,
  namespaced: (namespace: string) => Listed<T>,
): Promise<Map<string, T[]>> {
  return listAcross(
    namespaces,
    {
      cluster,
      namespaced: (namespace) =>
        namespaced(namespace).catch((err: unknown) => {
          throw new NamespaceListError(namespace, err);
        }),
    },
    run,
  );
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
  const [deps, stss, dss] = await Promise.all([
    across(
      namespaces,
      run,
      (limit) => kube.apps.listDeploymentForAllNamespaces({ limit }),
      (namespace) => kube.apps.listNamespacedDeployment({ namespace }),
    ),
    across(
      namespaces,
      run,
      (limit) => kube.apps.listStatefulSetForAllNamespaces({ limit }),
      (namespace) => kube.apps.listNamespacedStatefulSet({ namespace }),
    ),
    across(
      namespaces,
      run,
      (limit) => kube.apps.listDaemonSetForAllNamespaces({ limit }),
      (namespace) => kube.apps.listNamespacedDaemonSet({ namespace }),
    ),
  ]);
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
    return await across<SpcPodStatus & { metadata?: { namespace?: string } }>(
      namespaces,
      run,
      async (limit) => (await kube.custom.listClusterCustomObject({ ...opts, limit })) as Awaited<Listed<SpcPodStatus>>,
      async (namespace) => (await kube.custom.listNamespacedCustomObject({ ...opts, namespace })) as Awaited<Listed<SpcPodStatus>>,
    );
  } catch (err) {
    if (err instanceof NamespaceListError && kubeStatusOf(err.cause) === 404) return undefined;
    throw err;
  }
}

/** Snapshots of the namespaces from one listing of each kind (cluster-wide when allowed: six requests). */
export async function readNamespaces(kube: KubeSession, namespaces: readonly string[], run: Run = direct): Promise<NamespaceSnapshot[]> {
  const [workloads, rss, pods, spcps] = await Promise.all([
    readWorkloads(kube, namespaces, run),
    across(
      namespaces,
      run,
      (limit) => kube.apps.listReplicaSetForAllNamespaces({ limit }),
      (namespace) => kube.apps.listNamespacedReplicaSet({ namespace }),
    ),
    across(
      namespaces,
      run,
      (limit) => kube.core.listPodForAllNamespaces({ limit }),
      (namespace) => kube.core.listNamespacedPod({ namespace }),
    ),
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

export async function restartChangedWorkloads(
  kube: KubeSession,
  manifest: Manifest,
  secrets: SecretVersion[],
  opts: { mode: 'plan' | 'apply'; changedAt?: Date },
): Promise<{ items: PlanItem[]; restarted: RestartedWorkload[]; warnings: string[] }> {
  const versions = indexVersions(secrets);
  const changeTime = opts.changedAt ?? runStartedAt();
  const namespaces = [...new Set(manifest.targets.map((t) => t.namespace))].sort();
  const items: PlanItem[] = [];
  const restarted: RestartedWorkload[] = [];
  const warnings: string[] = [];
  const request = semaphore(KUBE_CONCURRENCY);
  interface Outcome {
    items: PlanItem[];
    restarted: RestartedWorkload[];
    warnings: string[];
  }
  const listed = await readWorkloads(kube, namespaces, request).catch((err: unknown) => {
    if (err instanceof NamespaceListError) throw new Error(`cannot list workloads in namespace ${err.namespace}: ${errorSummary(err.cause)}`);
    throw err;
  });
  // Namespaces are independent: a few at a time, each outcome kept in namespace order.
  const outcomes = await mapUntilError(namespaces, KUBE_CONCURRENCY, async (ns): Promise<Outcome> => {
    const out: Outcome = { items: [], restarted: [], warnings: [] };
    let snap: NamespaceSnapshot;
    try {
      const workloads = listed.get(ns) ?? [];
      snap = { namespace: ns, workloads, replicaSets: [], pods: [], spcps: [], spcpsServed: true };
      // Pods are evidence only for a consumer with no digest recorded yet (decideRestart's first
      // deploy): when every consumer has one, the digests alone decide and the pods are not listed.
      const needsPods = consumersIn(snap, manifest).some((wc) => {
        const obs = { templateDigest: templateOf(wc.workload)?.metadata?.annotations?.[DIGEST_ANNOTATION], recordedDigest: wc.workload.obj.metadata?.annotations?.[DIGEST_ANNOTATION] };
        return (obs.templateDigest ?? obs.recordedDigest) === undefined && mountedVersionsDigest(wc.consumed, versions) !== undefined;
      });
      if (needsPods) snap = { namespace: ns, workloads, ...(await readPods(kube, ns, request)) };
    } catch (err) {
      throw new Error(`cannot list workloads in namespace ${ns}: ${errorSummary(err)}`);
    }
    const seen = new Set<string>();
    for (const wc of consumersIn(snap, manifest)) {
      const ref = refOf(wc.workload);
      const key = workloadKey(ref);
      if (seen.has(key)) continue;
      seen.add(key);
      out.warnings.push(...consumptionWarnings(wc));
      const decision = decideRestart(observe(wc, snap), versions, changeTime);
      const name = `${ref.namespace}/${ref.name}`;
      const reason = `${ref.kind}: ${decision.reason}`;
      if (decision.action === 'restart') {
        out.items.push({ kind: 'workload', name, namespace: ref.namespace, action: 'restart', reason });
      } else {
        out.items.push({ kind: 'workload', name, namespace: ref.namespace, action: 'unchanged', reason });
      }
      if (opts.mode === 'plan' || decision.action === 'unchanged') {
        core.debug(`rotation: ${ref.kind} ${name}: ${decision.action} (${decision.reason})`);
        continue;
      }
      try {
        await request(() => kube.objects.patch(patchBody(wc, decision), undefined, undefined, FIELD_MANAGER, undefined, PatchStrategy.MergePatch));
      } catch (err) {
        throw new Error(`cannot ${decision.action === 'restart' ? 'restart' : 'annotate'} ${ref.kind} ${name}: ${errorSummary(err)}`);
      }
      if (decision.action === 'restart') {
        out.restarted.push({ kind: ref.kind, namespace: ref.namespace, name: ref.name, reason: decision.reason });
        core.info(`Restarted ${ref.kind} ${name}: ${decision.reason}`);
      } else {
        core.info(`Recorded mounted versions on ${ref.kind} ${name} (first deploy, no rollout)`);
      }
    }
    return out;
  });
  for (const o of outcomes) {
    items.push(...o.items);
    restarted.push(...o.restarted);
    warnings.push(...o.warnings);
  }
  // Warnings are returned for the caller to publish (annotations / summary), not printed twice here.
  return { items, restarted, warnings };
}
