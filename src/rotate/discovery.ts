// Pure: which targets (SecretProviderClasses and their synced Secrets) a pod template consumes,
// and which of their mounted objects it therefore depends on. No I/O here.
import type { V1Container, V1PodSpec } from '@kubernetes/client-node';
import type { MountedObject, TargetSpec } from '../manifest/types.ts';
import type { WorkloadRef } from '../kube/workloads.ts';

export const CSI_DRIVER = 'secrets-store.csi.k8s.io';

export function workloadKey(w: WorkloadRef): string {
  return `${w.kind}/${w.namespace}/${w.name}`;
}

/** How a pod template reads a target's secrets. */
export type ConsumptionWay = 'csi' | 'env' | 'envFrom' | 'volume';

export interface ConsumedTarget {
  target: TargetSpec;
  /** Every way the template reads the target (CSI volume, or the synced Secret by env/envFrom/volume). */
  ways: ConsumptionWay[];
  /** The mounted objects the template depends on (all of them for a CSI mount or a whole-Secret read). */
  objects: MountedObject[];
  /** `container: volume` for each subPath mount of the target's volumes (never updated in place). */
  subPathMounts: string[];
  /** Keys of the synced Secret the template reads through env/volume that the SPC does not sync. */
  missingKeys: string[];
}

function allContainers(spec: V1PodSpec): V1Container[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** Name of the object file in the mount: the alias, or the secret name. */
export function objectFileName(o: MountedObject): string {
  return o.alias ?? o.secret;
}

/**
 * The targets (in `namespace`) a pod spec consumes: a CSI volume of the secrets-store driver whose
 * `volumeAttributes.secretProviderClass` names the target's SPC, or the target's synced Secret read by
 * env (`secretKeyRef`), `envFrom` (`secretRef`), a `secret` volume or a projected volume source.
 */
export function discoverConsumption(namespace: string, spec: V1PodSpec | undefined, targets: readonly TargetSpec[]): ConsumedTarget[] {
  if (!spec) return [];
  const containers = allContainers(spec);
  const out: ConsumedTarget[] = [];
  for (const target of targets) {
    if (target.namespace !== namespace) continue;
    const ways = new Set<ConsumptionWay>();
    const objects = new Set<MountedObject>();
    const subPathMounts: string[] = [];
    const missingKeys = new Set<string>();
    const volumesOfTarget = new Set<string>();
    const sync = target.syncTo;
    const byKey = new Map<string, MountedObject>();
    if (sync) {
      for (const k of sync.keys) {
        const obj = target.objects.find((o) => objectFileName(o) === k.object);
        if (obj) byKey.set(k.key, obj);
      }
    }
    const allSynced = (): void => {
      for (const o of byKey.values()) objects.add(o);
    };
    const syncedKey = (key: string): void => {
      const o = byKey.get(key);
      if (o) objects.add(o);
      else missingKeys.add(key);
    };

    for (const v of spec.volumes ?? []) {
      if (v.csi?.driver === CSI_DRIVER && v.csi.volumeAttributes?.secretProviderClass === target.secretProviderClass) {
        ways.add('csi');
        volumesOfTarget.add(v.name);
        for (const o of target.objects) objects.add(o);
      }
      if (sync && v.secret?.secretName === sync.secretName) {
        ways.add('volume');
        volumesOfTarget.add(v.name);
        if (v.secret.items?.length) for (const it of v.secret.items) syncedKey(it.key);
        else allSynced();
      }
      if (sync) {
        for (const src of v.projected?.sources ?? []) {
          if (src.secret?.name !== sync.secretName) continue;
          ways.add('volume');
          volumesOfTarget.add(v.name);
          if (src.secret.items?.length) for (const it of src.secret.items) syncedKey(it.key);
          else allSynced();
        }
      }
    }
    if (sync) {
      for (const c of containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (ref?.name === sync.secretName) {
            ways.add('env');
            syncedKey(ref.key);
          }
        }
        for (const ef of c.envFrom ?? []) {
          if (ef.secretRef?.name === sync.secretName) {
            ways.add('envFrom');
            allSynced();
          }
        }
      }
    }
    if (ways.size === 0) continue;
    for (const c of containers) {
      for (const m of c.volumeMounts ?? []) {
        if (volumesOfTarget.has(m.name) && (m.subPath || m.subPathExpr)) subPathMounts.push(`${c.name}: ${m.name}`);
      }
    }
    out.push({
      target,
      ways: [...ways].sort(),
      objects: target.objects.filter((o) => objects.has(o)),
      subPathMounts,
      missingKeys: [...missingKeys].sort(),
    });
  }
  return out;
}

/** True when a consumption needs a new pod to see new content (env vars are read at start only). */
export function needsNewPod(c: ConsumedTarget): boolean {
  return c.ways.includes('env') || c.ways.includes('envFrom');
}
