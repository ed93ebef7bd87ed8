// Shared helpers of the kube-* integration tests: clients on the sandbox kubeconfig, a fresh
// namespace per test file, waiting for conditions, and the kubelet stand-in's control routes.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import { sandboxEnv } from '../../support/sandbox.ts';

export interface KubeClients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
}

const root = resolve(import.meta.dirname, '..', '..', '..');

/** The sandbox's variables, with the kube part's fixed locations when env.json lacks them (kube started by dev.ts). */
export function kubeEnv(): Record<string, string> {
  const env = sandboxEnv();
  return {
    ...env,
    KUBECONFIG: env.KUBECONFIG ?? join(root, '.sandbox', 'kube', 'kubeconfig'),
    AKV_AKS_SANDBOX_KUBELET: env.AKV_AKS_SANDBOX_KUBELET ?? 'http://127.0.0.1:27014',
  };
}

export function kubeClients(): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeEnv().KUBECONFIG!);
  return { kc, core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
}

export async function freshNamespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name } } });
  // pods need the namespace's default service account, which the controller manager creates
  await waitFor(`default service account in ${name}`, async () => {
    await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
    return true;
  });
  return name;
}

export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

export function isReady(pod: V1Pod): boolean {
  return pod.status?.phase === 'Running' && (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export async function podsWithLabel(core: CoreV1Api, namespace: string, selector: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace, labelSelector: selector })).items;
}

export async function podEvents(core: CoreV1Api, namespace: string, pod: string, reason?: string): Promise<CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${pod}` });
  return list.items.filter((e) => !reason || e.reason === reason);
}

export async function kubelet<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const base = kubeEnv().AKV_AKS_SANDBOX_KUBELET!;
  const res = await fetch(new URL(path, base), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`kubelet ${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
