// Pure: the digest of the versions a workload mounts and the decision whether to restart it
// (why restarts stay targeted and a first deploy never rolls twice: docs/architecture.md#restarts).
import { createHash } from 'node:crypto';
import type { MountedObject } from '../manifest/types.ts';
import type { SecretVersion } from '../plan/types.ts';
import type { ConsumedTarget } from './discovery.ts';
import { needsNewPod } from './discovery.ts';
import type { WorkloadRef } from '../kube/workloads.ts';

export type VersionsByName = ReadonlyMap<string, SecretVersion>;

export function indexVersions(secrets: readonly SecretVersion[]): Map<string, SecretVersion> {
  const m = new Map<string, SecretVersion>();
  for (const s of secrets) m.set(s.name.toLowerCase(), s);
  return m;
}

/** The version a pod must mount for an object: the pinned one, else the vault's current one. */
export function expectedVersion(o: MountedObject, versions: VersionsByName): string | undefined {
  return o.version ?? versions.get(o.secret.toLowerCase())?.version;
}

/** The id the Azure provider writes in SecretProviderClassPodStatus objects: `<objectType>/<objectName>`. */
export function objectId(o: MountedObject): string {
  return `${o.objectType}/${o.secret}`;
}

/** Digest of the versions a workload's restart-rotated targets mount (order-independent). */
export function mountedVersionsDigest(consumed: readonly ConsumedTarget[], versions: VersionsByName): string | undefined {
  const lines: string[] = [];
  for (const c of consumed) {
    if (c.target.rotation !== 'restart') continue;
    for (const o of c.objects) {
      lines.push([c.target.secretProviderClass, o.objectType, o.secret, expectedVersion(o, versions) ?? '?'].join('\t'));
    }
  }
  if (lines.length === 0) return undefined;
  lines.sort();
  return createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 32);
}

export interface PodEvidence {
  name: string;
  createdAt?: Date;
  /** Per SecretProviderClass name: object id -> mounted version, from a mounted SPCPS of this pod. */
  mounted: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export interface WorkloadObservation {
  ref: WorkloadRef;
  templateDigest?: string;
  recordedDigest?: string;
  consumed: ConsumedTarget[];
  pods: PodEvidence[];
}

export type RestartAction = 'restart' | 'unchanged' | 'record';

export interface RestartDecision {
  action: RestartAction;
  /** Undefined when no consumed target rotates by restart. */
  digest?: string;
  reason: string;
  /** Names of the objects that explain a restart (value-free). */
  changed: string[];
}

function changedObjects(consumed: readonly ConsumedTarget[], versions: VersionsByName): string[] {
  const names = new Set<string>();
  for (const c of consumed) {
    if (c.target.rotation !== 'restart') continue;
    for (const o of c.objects) if (versions.get(o.secret.toLowerCase())?.changed && !o.version) names.add(o.secret);
  }
  return [...names].sort();
}

/** Objects whose content the workload's current pods evidently hold in an old version. */
export function staleEvidence(obs: WorkloadObservation, versions: VersionsByName, changeTime: Date): string[] {
  const stale = new Set<string>();
  for (const c of obs.consumed) {
    if (c.target.rotation !== 'restart') continue;
    for (const pod of obs.pods) {
      const mounted = c.ways.includes('csi') ? pod.mounted.get(c.target.secretProviderClass) : undefined;
      // Env consumers read at start: a pod from before the change holds what changed.
      const startedBefore = needsNewPod(c) && pod.createdAt !== undefined && pod.createdAt.getTime() < changeTime.getTime();
      for (const o of c.objects) {
        const want = expectedVersion(o, versions);
        const have = mounted?.get(objectId(o));
        if (want && have && have !== want) stale.add(o.secret);
        if (startedBefore && versions.get(o.secret.toLowerCase())?.changed && !o.version) stale.add(o.secret);
      }
    }
  }
  return [...stale].sort();
}

export function decideRestart(obs: WorkloadObservation, versions: VersionsByName, changeTime: Date): RestartDecision {
  const digest = mountedVersionsDigest(obs.consumed, versions);
  if (digest === undefined) {
    const modes = [...new Set(obs.consumed.map((c) => c.target.rotation))].join(', ');
    return { action: 'unchanged', reason: `rotation: ${modes}`, changed: [] };
  }
  const last = obs.templateDigest ?? obs.recordedDigest;
  if (last === digest) return { action: 'unchanged', digest, reason: 'mounted versions unchanged', changed: [] };
  if (last !== undefined) {
    const changed = changedObjects(obs.consumed, versions);
    const reason = changed.length ? `new version of ${changed.join(', ')}` : 'mounted versions differ from the last restart';
    return { action: 'restart', digest, reason, changed };
  }
  const stale = staleEvidence(obs, versions, changeTime);
  if (stale.length) return { action: 'restart', digest, reason: `pods hold an old version of ${stale.join(', ')}`, changed: stale };
  return { action: 'record', digest, reason: 'first deploy: versions recorded without a rollout', changed: [] };
}
