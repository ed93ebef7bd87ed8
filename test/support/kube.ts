// Test-side cluster: clients for the sandbox's kube-apiserver.
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
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
