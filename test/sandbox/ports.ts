// Fixed loopback ports of the sandbox. Everything listens on 127.0.0.1 only, below Linux's
// ephemeral range (32768-60999): an outgoing connection's local port can never hold one of them.
export const HOST = '127.0.0.1';
export const PORTS = {
  githubOidc: 27010, // GitHub Actions OIDC issuer + the runner's ID-token endpoint (https)
  entra: 27011, // Microsoft Entra authority (https)
  arm: 27012, // Azure Resource Manager (https)
  control: 27013, // sandbox control API for tests (http)
  kubelet: 27014, // kubelet/CSI stand-in control + status (http)
  vaultProxyBase: 27100, // Key Vault authorization proxy: one port per vault, in world order (https)
  lowkeyVault: 27443, // lowkey-vault (https), behind the proxy
  lowkeyToken: 27480, // lowkey-vault's own managed-identity token port (unused by the action)
  etcdClient: 27379,
  etcdPeer: 27380,
  kubeApiserver: 27643, // kube-apiserver (https), also the service-account issuer
} as const;
