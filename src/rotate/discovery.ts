// Pure: which targets (SecretProviderClasses and their synced Secrets) a pod template consumes,
// and which of their mounted objects it therefore depends on. No I/O here.
import type { V1Container, V1PodSpec, V1Volume } from '@kubernetes/client-node';
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

/** What reading one pod spec found of one target, filled volume by volume and container by container. */
interface Reading {
  target: TargetSpec;
  ways: Set<ConsumptionWay>;
  objects: Set<MountedObject>;
  missingKeys: Set<string>;
  /** The pod's volumes that carry the target (for subPath mounts). */
  volumes: Set<string>;
  /** The synced Secret's keys and the object each holds. */
  byKey: Map<string, MountedObject>;
}

function startReading(target: TargetSpec): Reading {
  const byKey = new Map<string, MountedObject>();
  for (const k of target.syncTo?.keys ?? []) {
    const obj = target.objects.find((o) => objectFileName(o) === k.object);
    if (obj) byKey.set(k.key, obj);
  }
  return { target, ways: new Set(), objects: new Set(), missingKeys: new Set(), volumes: new Set(), byKey };
}

/** A read of the synced Secret: the listed keys only, or (no items) every synced key. */
function readSyncedKeys(r: Reading, keys: readonly string[] | undefined): void {
  if (!keys?.length) {
    for (const o of r.byKey.values()) r.objects.add(o);
    return;
  }
  for (const key of keys) {
    const o = r.byKey.get(key);
    if (o) r.objects.add(o);
    else r.missingKeys.add(key);
  }
}

/** CSI volumes of the target's SPC, and `secret` or projected volumes of its synced Secret. */
function readVolume(r: Reading, v: V1Volume): void {
  const sync = r.target.syncTo;
  if (v.csi?.driver === CSI_DRIVER && v.csi.volumeAttributes?.secretProviderClass === r.target.secretProviderClass) {
    r.ways.add('csi');
    r.volumes.add(v.name);
    for (const o of r.target.objects) r.objects.add(o);
  }
  if (!sync) return;
  const sources = [...(v.secret ? [{ name: v.secret.secretName, items: v.secret.items }] : []), ...(v.projected?.sources ?? []).flatMap((src) => (src.secret ? [src.secret] : []))];
  for (const src of sources) {
    if (src.name !== sync.secretName) continue;
    r.ways.add('volume');
    r.volumes.add(v.name);
    readSyncedKeys(
      r,
      src.items?.map((it) => it.key),
    );
  }
}

/** `secretKeyRef` env vars and `envFrom` of the target's synced Secret. */
function readEnv(r: Reading, c: V1Container): void {
  const sync = r.target.syncTo;
  if (!sync) return;
  for (const e of c.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref?.name !== sync.secretName) continue;
    r.ways.add('env');
    readSyncedKeys(r, [ref.key]);
  }
  for (const ef of c.envFrom ?? []) {
    if (ef.secretRef?.name !== sync.secretName) continue;
    r.ways.add('envFrom');
    readSyncedKeys(r, undefined);
  }
}

function consumptionOf(target: TargetSpec, spec: V1PodSpec, containers: readonly V1Container[]): ConsumedTarget | undefined {
  const r = startReading(target);
  for (const v of spec.volumes ?? []) readVolume(r, v);
  for (const c of containers) readEnv(r, c);
  if (r.ways.size === 0) return undefined;
  const subPathMounts = containers.flatMap((c) => (c.volumeMounts ?? []).filter((m) => r.volumes.has(m.name) && (m.subPath || m.subPathExpr)).map((m) => `${c.name}: ${m.name}`));
  return {
    target,
    ways: [...r.ways].sort(),
    objects: target.objects.filter((o) => r.objects.has(o)),
    subPathMounts,
    missingKeys: [...r.missingKeys].sort(),
  };
}

/**
 * The targets (in `namespace`) a pod spec consumes: a CSI volume of the secrets-store driver whose
 * `volumeAttributes.secretProviderClass` names the target's SPC, or the target's synced Secret read by
 * env (`secretKeyRef`), `envFrom` (`secretRef`), a `secret` volume or a projected volume source.
 */
export function discoverConsumption(namespace: string, spec: V1PodSpec | undefined, targets: readonly TargetSpec[]): ConsumedTarget[] {
  if (!spec) return [];
  const containers = allContainers(spec);
  return targets.filter((t) => t.namespace === namespace).flatMap((t) => consumptionOf(t, spec, containers) ?? []);
}

/** True when a consumption needs a new pod to see new content (env vars are read at start only). */
export function needsNewPod(c: ConsumedTarget): boolean {
  return c.ways.includes('env') || c.ways.includes('envFrom');
}
