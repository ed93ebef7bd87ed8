// Fixed loopback ports of the sandbox. Everything listens on 127.0.0.1 only.
export const HOST = '127.0.0.1';
export const PORTS = {
  githubOidc: 47010, // GitHub Actions OIDC issuer + the runner's ID-token endpoint (https)
  entra: 47011, // Microsoft Entra authority (https)
  arm: 47012, // Azure Resource Manager (https)
  control: 47013, // sandbox control API for tests (http)
  kubelet: 47014, // kubelet/CSI stand-in control + status (http)
  vaultProxyBase: 47100, // Key Vault authorization proxy: one port per vault, in world order (https)
  lowkeyVault: 47443, // lowkey-vault (https), behind the proxy
  lowkeyToken: 47480, // lowkey-vault's own managed-identity token port (unused by the action)
  etcdClient: 47379,
  etcdPeer: 47380,
  kubeApiserver: 47643, // kube-apiserver (https), also the service-account issuer
} as const;
