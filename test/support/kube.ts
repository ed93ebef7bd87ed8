// Test-side cluster: clients for the sandbox's kube-apiserver, and the workloads a test deploys there
// as a team would (kubectl-like server-side apply and restarts).
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { sandboxEnvWithKube } from './sandbox.ts';

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  objects: KubernetesObjectApi;
}

export function kubeAvailable(): boolean {
  return Boolean(sandboxEnvWithKube().KUBECONFIG);
}

export function kube(): Kube {
  const env = sandboxEnvWithKube();
  if (!env.KUBECONFIG) throw new Error('the sandbox runs without a cluster (KUBECONFIG missing from .sandbox/env.json and .sandbox/kube/env.json)');
  const kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi), objects: KubernetesObjectApi.makeApiClient(kc) };
}

export async function deleteNamespace(k: Kube, name: string): Promise<void> {
  await k.core.deleteNamespace({ name }).catch(() => undefined);
}

export function appDeployment(o: { namespace: string; name: string; serviceAccount?: string; spc: string; replicas?: number; workloadIdentity?: boolean }): KubernetesObject & Record<string, unknown> {
  const podLabels: Record<string, string> = { app: o.name };
  if (o.workloadIdentity !== false) podLabels['azure.workload.identity/use'] = 'true';
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: o.name, namespace: o.namespace, labels: { app: o.name } },
    spec: {
      replicas: o.replicas ?? 1,
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

/** Server-side apply, as `kubectl apply --server-side` (and scripts/demo.ts) does. */
export async function applyObject(k: Kube, obj: KubernetesObject): Promise<void> {
  await k.objects.patch(obj, undefined, undefined, 'akv-aks-e2e', true, PatchStrategy.ServerSideApply);
}

export async function deployment(k: Kube, namespace: string, name: string): Promise<V1Deployment> {
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
