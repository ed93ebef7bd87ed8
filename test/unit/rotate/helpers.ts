// Test builders: typed manifests, pod templates and workloads, without the loader; and the fake
// cluster API the rotate step's tests run against.
import type { V1Deployment, V1Pod, V1PodSpec, V1ReplicaSet } from '@kubernetes/client-node';
import type { KubeSession } from '../../../src/kube/client.ts';
import type { Manifest, MountedObject, TargetSpec } from '../../../src/manifest/types.ts';
import { manifestInstance } from '../../../src/manifest/instance.ts';

export function obj(secret: string, extra: Partial<MountedObject> = {}): MountedObject {
  return { secret, objectType: 'secret', ...extra };
}

export function target(over: Partial<TargetSpec> & { namespace: string; secretProviderClass: string }): TargetSpec {
  return {
    createNamespace: false,
    serviceAccount: 'app',
    identity: { mode: 'managed', name: 'id', resourceGroup: 'rg-ids', location: 'westeurope' },
    access: { scope: 'vault', role: 'Key Vault Secrets User' },
    objects: [],
    rotation: 'restart',
    ...over,
  };
}

export function manifest(targets: TargetSpec[]): Manifest {
  const names = new Set(targets.flatMap((t) => t.objects.map((o) => o.secret)));
  return {
    apiVersion: 'akv-aks/v1',
    instance: manifestInstance({ repository: 'contoso/tests', path: 'akv-aks.yaml', cluster: 'sandbox' }),
    vault: { name: 'kv-sandbox', resourceGroup: 'rg-sandbox' },
    cluster: { name: 'sandbox' },
    identityDefaults: { tags: {} },
    secrets: [...names].map((name) => ({ name, source: { kind: 'env', env: name.toUpperCase() }, tags: {}, adopt: false })),
    targets,
    prune: false,
    purge: false,
  };
}

export function csiVolume(name: string, spc: string) {
  return { name, csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: spc } } };
}

export function podSpec(over: Partial<V1PodSpec> = {}): V1PodSpec {
  return { containers: [{ name: 'app', image: 'busybox' }], ...over };
}

export function deployment(
  ns: string,
  name: string,
  spec: V1PodSpec,
  over: { generation?: number; annotations?: Record<string, string>; templateAnnotations?: Record<string, string>; uid?: string } = {},
): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, uid: over.uid ?? `uid-${name}`, generation: over.generation ?? 1, annotations: { 'deployment.kubernetes.io/revision': '1', ...over.annotations } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name }, annotations: over.templateAnnotations }, spec } },
    status: { observedGeneration: over.generation ?? 1, replicas: 1, updatedReplicas: 1, availableReplicas: 1, readyReplicas: 1 },
  };
}

export function replicaSet(d: V1Deployment, name: string, revision = '1'): V1ReplicaSet {
  return {
    metadata: {
      name,
      namespace: d.metadata!.namespace,
      uid: `uid-${name}`,
      annotations: { 'deployment.kubernetes.io/revision': revision },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata!.name!, uid: d.metadata!.uid!, controller: true }],
    },
  };
}

export function pod(rs: V1ReplicaSet, name: string, over: { created?: string; ready?: boolean; phase?: string; node?: string; spec?: V1PodSpec } = {}): V1Pod {
  return {
    metadata: {
      name,
      namespace: rs.metadata!.namespace,
      uid: `uid-${name}`,
      creationTimestamp: new Date(over.created ?? '2026-01-01T00:00:00Z'),
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.metadata!.name!, uid: rs.metadata!.uid!, controller: true }],
    },
    spec: { nodeName: over.node ?? 'node-1', ...(over.spec ?? podSpec()) },
    status: {
      phase: over.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: over.ready === false ? 'False' : 'True' }],
    },
  };
}

export function spcps(p: V1Pod, spc: string, objects: Record<string, string>, mounted = true) {
  return {
    metadata: {
      name: `${p.metadata!.name}-${p.metadata!.namespace}-${spc}`,
      namespace: p.metadata!.namespace,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: p.metadata!.name!, uid: p.metadata!.uid! }],
    },
    status: { podName: p.metadata!.name, secretProviderClassName: spc, mounted, objects: Object.entries(objects).map(([id, version]) => ({ id, version })) },
  };
}

export interface RecordedPatch {
  body: Record<string, unknown>;
  strategy: unknown;
  fieldManager: unknown;
}

export interface FakeRotateKube {
  kube: KubeSession;
  /** `what namespace` per list call, in call order. */
  calls: string[];
  patches: RecordedPatch[];
  /** The most list calls in flight at once. */
  peak(): number;
}

/**
 * An in-memory fake of the few API calls restartChangedWorkloads makes. With `scrambled`, each
 * namespace answers after its own number of event-loop turns (no clock), so answers come back out
 * of order and calls overlap.
 */
export function fakeRotateKube(deps: V1Deployment[], rss: V1ReplicaSet[], pods: V1Pod[], statuses: unknown[], o: { scrambled?: boolean } = {}): FakeRotateKube {
  const calls: string[] = [];
  const patches: RecordedPatch[] = [];
  let active = 0;
  let peak = 0;
  const turns = (namespace: string): number => (o.scrambled ? (namespace.length * 7 + Number(namespace.replace(/\D/g, '') || 0) * 13) % 9 : 0);
  const list =
    <T>(what: string, items: T[]) =>
    async ({ namespace }: { namespace: string }) => {
      calls.push(`${what} ${namespace}`);
      active++;
      peak = Math.max(peak, active);
      for (let i = turns(namespace); i > 0; i--) await new Promise((r) => setImmediate(r));
      active--;
      return { items: items.filter((i) => (i as { metadata?: { namespace?: string } }).metadata?.namespace === namespace) };
    };
  const kube = {
    apps: {
      listNamespacedDeployment: list('deployments', deps),
      listNamespacedStatefulSet: list('statefulsets', []),
      listNamespacedDaemonSet: list('daemonsets', []),
      listNamespacedReplicaSet: list('replicasets', rss),
    },
    core: { listNamespacedPod: list('pods', pods) },
    custom: { listNamespacedCustomObject: list('spcps', statuses) },
    objects: {
      patch: async (body: Record<string, unknown>, opts: { strategy: unknown; fieldManager?: unknown }) => {
        patches.push({ body, strategy: opts.strategy, fieldManager: opts.fieldManager });
        return body;
      },
    },
  } as unknown as KubeSession;
  return { kube, calls, patches, peak: () => peak };
}
