// Test-side cluster: clients for the sandbox's kube-apiserver (plain ones, and the action's own
// session), its kubelet/CSI stand-in's control routes, and the workloads a test deploys there as a
// team would (kubectl-like server-side apply and restarts).
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1Deployment, type V1Pod, type V1PodSpec } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectKube, kubeStatusOf, type KubeSession } from '../../src/kube/client.ts';
import { describeUnless, sandboxLogTail } from './guard.ts';
import { jsonRequest, sandboxEnvWithKube } from './sandbox.ts';

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
}

/** The sandbox cluster's kubeconfig (the full sandbox's, or that of a cluster started next to its Azure part). */
export function sandboxKubeconfig(): string | undefined {
  try {
    return sandboxEnvWithKube().KUBECONFIG;
  } catch {
    return undefined; // no sandbox running
  }
}

export function kubeAvailable(): boolean {
  return sandboxKubeconfig() !== undefined;
}

/** `describe` for suites that need the sandbox's cluster (skipped locally, failed in CI, without it). */
export const describeKube = describeUnless(kubeAvailable() ? undefined : 'the sandbox runs without its cluster (started with --no-kube, or the control plane is not built)', sandboxLogTail);

export function kube(): Kube {
  const env = sandboxEnvWithKube();
  if (!env.KUBECONFIG) throw new Error('the sandbox runs without a cluster (KUBECONFIG missing from .sandbox/env.json and .sandbox/kube/env.json)');
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi), objects: KubernetesObjectApi.makeApiClient(kc) };
}

let plainClient: Kube | undefined;

/**
 * The plain client (memoised) for a test's own set-up and checks: creating workloads, reading what
 * the action wrote. The action's session only has the calls the action makes.
 */
export function admin(): Kube {
  plainClient ??= kube();
  return plainClient;
}

/** The action's own cluster session (src/kube/client.ts) on the sandbox cluster. */
export function sandboxKube(): KubeSession {
  return connectKube({ kubeconfig: sandboxKubeconfig() });
}

/**
 * The action's session as the ServiceAccount `namespace/name` (a token of its own, in a kubeconfig
 * written to `dir`): it may do what its RBAC allows, nothing more.
 */
export async function serviceAccountSession(k: KubeSession, namespace: string, name: string, dir: string): Promise<KubeSession> {
  const token = (await k.core.createNamespacedServiceAccountToken({ name, namespace, body: { spec: { audiences: [], expirationSeconds: 600 } } })).status?.token ?? '';
  const cluster = kube().kc.getCurrentCluster()!;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: cluster.name, cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData, 'certificate-authority': cluster.caFile } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: cluster.name, user: name } }],
    'current-context': name,
  };
  const file = join(dir, `${namespace}-${name}.kubeconfig`);
  writeFileSync(file, JSON.stringify(config));
  return connectKube({ kubeconfig: file });
}

/** Deletes a namespace a test made; one already gone is fine. */
export async function deleteNamespace(k: KubeSession | { core: CoreV1Api }, name: string): Promise<void> {
  try {
    if ('http' in k) await k.http.json({ method: 'DELETE', path: `/api/v1/namespaces/${encodeURIComponent(name)}` });
    else await k.core.deleteNamespace({ name });
  } catch (err) {
    if (kubeStatusOf(err) !== 404) throw err;
  }
}

/** Calls the kubelet/CSI stand-in's control routes (GET /status, PATCH /config, POST /rotate). */
export async function kubeletControl(method: string, path: string, body?: unknown): Promise<unknown> {
  const base = sandboxEnvWithKube().AKV_AKS_SANDBOX_KUBELET;
  if (!base) throw new Error('no kubelet control URL in the sandbox environment');
  return jsonRequest('kubelet', base, method, path, body);
}

export function appDeployment(o: {
  namespace: string;
  name: string;
  serviceAccount?: string;
  spc: string;
  replicas?: number;
  workloadIdentity?: boolean;
  progressDeadlineSeconds?: number;
}): KubernetesObject & Record<string, unknown> {
  const podLabels: Record<string, string> = { app: o.name };
  if (o.workloadIdentity !== false) podLabels['azure.workload.identity/use'] = 'true';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, namespace: o.namespace, labels: { app: o.name } },
    spec: {
      replicas: o.replicas ?? 1,
      ...(o.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: o.progressDeadlineSeconds } : {}),
      selector: { matchLabels: { app: o.name } },
      template: {
        metadata: { labels: podLabels },
        spec: {
          ...(o.serviceAccount ? { serviceAccountName: o.serviceAccount } : {}),
          containers: [{ name: 'app', image: 'mcr.microsoft.com/oss/nginx/nginx:1.27.3', volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets-store', readOnly: true }] }],
          volumes: [{ name: 'secrets', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: o.spc } } }],
        },
      },
    },
  };
}

/** Server-side apply, as `kubectl apply --server-side` (and scripts/demo.ts) does; `manager` plays another tool (helm, kubectl edit). */
export async function applyObject(k: Kube, obj: KubernetesObject, manager = 'akv-aks-e2e'): Promise<void> {
  await k.objects.patch(obj, undefined, undefined, manager, true, PatchStrategy.ServerSideApply);
}

export async function deployment(k: KubeSession | { apps: AppsV1Api }, namespace: string, name: string): Promise<V1Deployment> {
  if ('http' in k) return k.objects.read<V1Deployment>({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { namespace, name } });
  return k.apps.readNamespacedDeployment({ namespace, name });
}

export async function podsOf(k: Kube, namespace: string, app: string): Promise<V1Pod[]> {
  const list = await k.core.listNamespacedPod({ namespace, labelSelector: `app=${app}` });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/** `kubectl rollout restart`: a new pod-template annotation. */
export async function rolloutRestart(k: Kube, namespace: string, name: string): Promise<void> {
  await k.objects.patch(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace },
      spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } },
    } as KubernetesObject,
    undefined,
    undefined,
    'akv-aks-e2e',
    undefined,
    PatchStrategy.MergePatch,
  );
}

/** A pod spec mounting the SecretProviderClass `spc` through the CSI driver (an image never pulled: the kubelet is a stand-in). */
export function csiPodSpec(spc: string, serviceAccount = 'api', extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    serviceAccountName: serviceAccount,
    containers: [{ name: 'app', image: 'registry.invalid/app:1', volumeMounts: [{ name: 'secrets', mountPath: '/mnt/secrets', readOnly: true }] }],
    volumes: [{ name: 'secrets', csi: { driver: 'secrets-store.csi.k8s.io', readOnly: true, volumeAttributes: { secretProviderClass: spc } } }],
    ...extra,
  };
}

/** A pod spec reading the Kubernetes Secret `secretName` (synced by the driver) as environment variables. */
export function envPodSpec(secretName: string, serviceAccount = 'api'): V1PodSpec {
  return {
    serviceAccountName: serviceAccount,
    containers: [{ name: 'app', image: 'registry.invalid/app:1', envFrom: [{ secretRef: { name: secretName } }] }],
  };
}

export function deploymentOf(namespace: string, name: string, spec: V1PodSpec, replicas = 1): V1Deployment {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec },
    },
  };
}

/** The session with every API call recorded into `calls` as `group.method` (requests counted at the client). */
export function countingSession(s: KubeSession, calls: () => string[]): KubeSession {
  const counted = <T extends object>(api: T, group: string): T =>
    new Proxy(api, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          calls().push(`${group}.${prop}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return { ...s, core: counted(s.core, 'core'), apps: counted(s.apps, 'apps'), custom: counted(s.custom, 'custom'), objects: counted(s.objects, 'objects') };
}
