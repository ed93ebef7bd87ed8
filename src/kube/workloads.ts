// Pure helpers over Deployments, StatefulSets, DaemonSets, ReplicaSets and Pods: which pods belong to
// which workload, which pods are current, and whether a rollout is complete (as kubectl rollout status).
import type { V1DaemonSet, V1Deployment, V1Pod, V1PodTemplateSpec, V1ReplicaSet, V1StatefulSet } from '@kubernetes/client-node';

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

export interface WorkloadRef {
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export type Workload = { kind: 'Deployment'; obj: V1Deployment } | { kind: 'StatefulSet'; obj: V1StatefulSet } | { kind: 'DaemonSet'; obj: V1DaemonSet };

export function refOf(w: Workload): WorkloadRef {
  return { kind: w.kind, namespace: w.obj.metadata?.namespace ?? '', name: w.obj.metadata?.name ?? '' };
}

export function templateOf(w: Workload): V1PodTemplateSpec | undefined {
  return w.obj.spec?.template;
}

export function isTerminating(pod: V1Pod): boolean {
  return Boolean(pod.metadata?.deletionTimestamp);
}

export function isFinished(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function controllerOf(meta: { ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }> } | undefined) {
  const refs = meta?.ownerReferences ?? [];
  return refs.find((r) => r.controller) ?? refs[0];
}

/** The workload that owns a pod (through its ReplicaSet for Deployments). */
export function podOwner(pod: V1Pod, replicaSets: readonly V1ReplicaSet[]): WorkloadRef | undefined {
  const ns = pod.metadata?.namespace ?? '';
  const owner = controllerOf(pod.metadata);
  if (!owner) return undefined;
  if (owner.kind === 'StatefulSet' || owner.kind === 'DaemonSet') return { kind: owner.kind, namespace: ns, name: owner.name };
  if (owner.kind === 'ReplicaSet') {
    const rs = replicaSets.find((r) => r.metadata?.namespace === ns && (r.metadata?.uid === owner.uid || r.metadata?.name === owner.name));
    const rsOwner = controllerOf(rs?.metadata);
    if (rsOwner?.kind === 'Deployment') return { kind: 'Deployment', namespace: ns, name: rsOwner.name };
  }
  return undefined;
}

function sameRef(a: WorkloadRef, b: WorkloadRef): boolean {
  return a.kind === b.kind && a.namespace === b.namespace && a.name === b.name;
}

/** All live (not terminating, not finished) pods of a workload. */
export function podsOf(ref: WorkloadRef, pods: readonly V1Pod[], replicaSets: readonly V1ReplicaSet[]): V1Pod[] {
  return pods
    .filter((p) => !isTerminating(p) && !isFinished(p))
    .filter((p) => {
      const o = podOwner(p, replicaSets);
      return o !== undefined && sameRef(o, ref);
    });
}

const REVISION = 'deployment.kubernetes.io/revision';

/** The Deployment's newest ReplicaSet (the one whose revision equals the Deployment's). */
export function newestReplicaSet(d: V1Deployment, replicaSets: readonly V1ReplicaSet[]): V1ReplicaSet | undefined {
  const ns = d.metadata?.namespace;
  const owned = replicaSets.filter(
    (r) =>
      r.metadata?.namespace === ns && controllerOf(r.metadata)?.kind === 'Deployment' && (controllerOf(r.metadata)?.uid === d.metadata?.uid || controllerOf(r.metadata)?.name === d.metadata?.name),
  );
  const rev = d.metadata?.annotations?.[REVISION];
  const exact = rev ? owned.find((r) => r.metadata?.annotations?.[REVISION] === rev) : undefined;
  if (exact) return exact;
  return owned.sort((a, b) => Number(b.metadata?.annotations?.[REVISION] ?? 0) - Number(a.metadata?.annotations?.[REVISION] ?? 0))[0];
}

/** Pods of the workload's current revision (a Deployment's newest ReplicaSet, a StatefulSet's update revision). */
export function currentPods(w: Workload, pods: readonly V1Pod[], replicaSets: readonly V1ReplicaSet[]): V1Pod[] {
  const all = podsOf(refOf(w), pods, replicaSets);
  const isCurrent = revisionTest(w, replicaSets);
  if (!isCurrent) return all;
  // A DaemonSet pod without pod-template-generation cannot be told old: kept.
  if (w.kind === 'DaemonSet') return all.filter((p) => p.metadata?.labels?.['pod-template-generation'] === undefined || isCurrent(p));
  return all.filter(isCurrent);
}

export interface RolloutStatus {
  done: boolean;
  /** Short state for the log / diagnosis: "2 of 3 updated replicas are available"... */
  message: string;
  /** Set when the Deployment's progress deadline was exceeded. */
  stuck?: string;
}

/**
 * Same rules as `kubectl rollout status`, on the workload's status; also complete when its pods
 * already show it (see rolledOutByPods), given the pods and ReplicaSets seen.
 */
export function rolloutStatus(w: Workload, pods: readonly V1Pod[] = [], replicaSets: readonly V1ReplicaSet[] = []): RolloutStatus {
  const gen = w.obj.metadata?.generation ?? 0;
  const observed = w.obj.status?.observedGeneration ?? 0;
  if (observed < gen) return { done: false, message: 'waiting for the controller to observe the new generation' };
  const byStatus = w.kind === 'Deployment' ? deploymentRollout(w.obj) : w.kind === 'StatefulSet' ? statefulSetRollout(w.obj) : daemonSetRollout(w.obj);
  if (byStatus.done || byStatus.final) return { done: byStatus.done, message: byStatus.message, ...(byStatus.stuck ? { stuck: byStatus.stuck } : {}) };
  if (rolledOutByPods(w, pods, replicaSets)) return { done: true, message: 'rolled out (every live pod is of the current revision and Ready)' };
  return { done: false, message: byStatus.message };
}

/** A status reading; `final` when the pods cannot overrule it (paused, past its deadline, partitioned). */
type StatusReading = RolloutStatus & { final?: boolean };

function deploymentRollout(d: V1Deployment): StatusReading {
  const cond = d.status?.conditions?.find((c) => c.type === 'Progressing');
  if (cond?.reason === 'ProgressDeadlineExceeded') {
    return { done: false, final: true, message: `rollout exceeded its progress deadline`, stuck: cond.message ?? 'ProgressDeadlineExceeded' };
  }
  if (d.spec?.paused) return { done: false, final: true, message: 'deployment is paused' };
  const want = d.spec?.replicas ?? 1;
  const updated = d.status?.updatedReplicas ?? 0;
  const total = d.status?.replicas ?? 0;
  const available = d.status?.availableReplicas ?? 0;
  if (updated < want) return { done: false, message: `${updated} of ${want} new replicas updated` };
  if (total > updated) return { done: false, message: `${total - updated} old replicas pending termination` };
  if (available < updated) return { done: false, message: `${available} of ${updated} updated replicas available` };
  return { done: true, message: 'rolled out' };
}

function statefulSetRollout(s: V1StatefulSet): StatusReading {
  if (s.spec?.updateStrategy?.type === 'OnDelete') return { done: true, message: 'OnDelete update strategy: not tracked' };
  const want = s.spec?.replicas ?? 1;
  const ready = s.status?.readyReplicas ?? 0;
  const partition = s.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (ready < want) return { done: false, final: partition > 0, message: `${ready} of ${want} pods ready` };
  if (partition > 0) {
    const updated = s.status?.updatedReplicas ?? 0;
    if (updated < want - partition) return { done: false, final: true, message: `${updated} of ${want - partition} pods updated` };
    return { done: true, message: 'partitioned roll out complete' };
  }
  if (s.status?.updateRevision && s.status.currentRevision !== s.status.updateRevision) {
    return { done: false, message: `${s.status.updatedReplicas ?? 0} of ${want} pods updated` };
  }
  return { done: true, message: 'rolled out' };
}

function daemonSetRollout(ds: V1DaemonSet): StatusReading {
  if (ds.spec?.updateStrategy?.type === 'OnDelete') return { done: true, message: 'OnDelete update strategy: not tracked' };
  const desired = ds.status?.desiredNumberScheduled ?? 0;
  const updated = ds.status?.updatedNumberScheduled ?? 0;
  const available = ds.status?.numberAvailable ?? 0;
  if (updated < desired) return { done: false, message: `${updated} of ${desired} pods updated` };
  if (available < desired) return { done: false, message: `${available} of ${desired} updated pods available` };
  return { done: true, message: 'rolled out' };
}

/** How many pods an observed workload wants, and which pods are of its current revision (undefined: not known yet). */
/**
 * Whether a pod is of the workload's current revision (a Deployment's newest ReplicaSet, a
 * StatefulSet's update revision, a DaemonSet's template generation); undefined while the workload
 * does not say which that is.
 */
function revisionTest(w: Workload, replicaSets: readonly V1ReplicaSet[]): ((p: V1Pod) => boolean) | undefined {
  if (w.kind === 'Deployment') {
    const rs = newestReplicaSet(w.obj, replicaSets);
    return rs ? (p) => controlledBy(p, rs) : undefined;
  }
  if (w.kind === 'StatefulSet') {
    const rev = w.obj.status?.updateRevision;
    return rev ? (p) => p.metadata?.labels?.['controller-revision-hash'] === rev : undefined;
  }
  const gen = w.obj.metadata?.generation;
  return gen !== undefined ? (p) => p.metadata?.labels?.['pod-template-generation'] === String(gen) : undefined;
}

function currentRevision(w: Workload, replicaSets: readonly V1ReplicaSet[]): { want: number; isCurrent: (p: V1Pod) => boolean } | undefined {
  const isCurrent = revisionTest(w, replicaSets);
  if (!isCurrent) return undefined;
  if (w.kind !== 'DaemonSet') return { want: w.obj.spec?.replicas ?? 1, isCurrent };
  const desired = w.obj.status?.desiredNumberScheduled;
  return desired !== undefined ? { want: desired, isCurrent } : undefined;
}

/**
 * The same completion read from the pods of an observed workload: every live pod is of the current
 * revision and Ready, and there are at least as many as it wants. The controller's status counters
 * trail the pods on a busy cluster (its API client is rate-limited), by seconds at a few hundred
 * pods. Only without minReadySeconds, where available means Ready.
 */
function rolledOutByPods(w: Workload, pods: readonly V1Pod[], replicaSets: readonly V1ReplicaSet[]): boolean {
  if ((w.obj.spec?.minReadySeconds ?? 0) > 0) return false;
  const current = currentRevision(w, replicaSets);
  if (!current) return false;
  const live = podsOf(refOf(w), pods, replicaSets);
  return live.length >= current.want && live.every((p) => current.isCurrent(p) && isPodReady(p));
}

function controlledBy(pod: V1Pod, rs: V1ReplicaSet): boolean {
  const owner = controllerOf(pod.metadata);
  return owner?.uid === rs.metadata?.uid || owner?.name === rs.metadata?.name;
}

/** Update strategies under which a template change does not replace pods by itself. */
export function onDeleteStrategy(w: Workload): boolean {
  if (w.kind === 'StatefulSet') return w.obj.spec?.updateStrategy?.type === 'OnDelete';
  if (w.kind === 'DaemonSet') return w.obj.spec?.updateStrategy?.type === 'OnDelete';
  return false;
}

export function isPodReady(pod: V1Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
