// One connection pool per kubeconfig for the sandbox's own Kubernetes clients. client-node 2.0
// builds a new undici Agent, so a new TLS connection, for every request (KubeConfig's private
// createDispatcher); with 200 pods starting, the kubelet stand-in's status updates then waited
// 0.5-1 s each behind TLS handshakes. client-go, which a real kubelet uses, keeps one connection.
import type { KubeConfig } from '@kubernetes/client-node';

type DispatcherFactory = (cluster: unknown, agentOptions: unknown) => unknown;

/** Makes `kc` reuse the first dispatcher it builds (the stand-in uses one cluster and one user). */
export function pooledConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as { createDispatcher: DispatcherFactory };
  const build = target.createDispatcher.bind(kc);
  let pool: unknown;
  target.createDispatcher = (cluster, agentOptions) => (pool ??= build(cluster, agentOptions));
  return kc;
}
