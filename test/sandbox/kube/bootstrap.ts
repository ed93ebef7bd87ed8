// What an AKS cluster with the Key Vault secrets provider add-on has before the action runs:
// anonymous service-account issuer discovery, the Secrets Store CSI Driver CRDs (./crds, written
// from the driver's API)
// and CSIDriver object (tokenRequests for workload identity), and one Ready node.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api, StorageV1Api, type V1CustomResourceDefinition, type V1Node } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { CSI_DRIVER, TOKEN_AUDIENCE } from './csi.ts';

export const NODE_NAME = 'aks-nodepool1-0';
/** The project's own CRDs of the Secrets Store CSI Driver (see crds/SOURCES.md). */
export const CRD_DIR = resolve(import.meta.dirname, 'crds');

function code(err: unknown): number | undefined {
  const e = err as { code?: unknown } | undefined;
  return typeof e?.code === 'number' ? e.code : undefined;
}

async function ignoreConflict(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (code(err) !== 409) throw err;
  }
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The CRD documents of a folder (the secrets-store.csi.x-k8s.io definitions). */
export function readCrds(dir: string): V1CustomResourceDefinition[] {
  const out: V1CustomResourceDefinition[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const obj = doc.toJS() as V1CustomResourceDefinition | null;
      if (obj?.kind === 'CustomResourceDefinition') out.push(obj);
    }
  }
  return out;
}

export function fakeNode(name: string): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        agentpool: 'nodepool1',
        'kubernetes.azure.com/agentpool': 'nodepool1',
        'kubernetes.azure.com/mode': 'system',
        'kubernetes.azure.com/role': 'agent',
        'kubernetes.azure.com/cluster': 'MC_rg-sandbox_sandbox_eastus',
        'node.kubernetes.io/instance-type': 'Standard_D4s_v5',
        'topology.kubernetes.io/region': 'eastus',
        'topology.kubernetes.io/zone': '0',
      },
    },
    spec: {
      providerID: `azure:///subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/mc_rg-sandbox_sandbox_eastus/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-vmss/virtualMachines/0`,
    },
  };
}

export async function bootstrapCluster(kc: KubeConfig, opts: { crdDir: string; log: (m: string) => void }): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const storage = kc.makeApiClient(StorageV1Api);

  // Anonymous OIDC discovery, as AKS serves it for workload identity.
  await ignoreConflict(
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name: 'service-account-issuer-discovery-unauthenticated' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:service-account-issuer-discovery' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:unauthenticated' }],
      },
    }),
  );

  // The driver's CRDs.
  const crds = readCrds(opts.crdDir);
  if (crds.length === 0) throw new Error(`no CustomResourceDefinition found in ${opts.crdDir}`);
  for (const crd of crds) await ignoreConflict(ext.createCustomResourceDefinition({ body: crd }));
  await eventually(
    'CRDs Established',
    async () => {
      for (const crd of crds) {
        const got = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
        if (!got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
      }
      return true;
    },
    60_000,
  );
  opts.log(`CRDs installed: ${crds.map((c) => c.metadata!.name).join(', ')}`);

  // The driver's CSIDriver object (the AKS add-on asks the kubelet for workload-identity tokens).
  await ignoreConflict(
    storage.createCSIDriver({
      body: {
        metadata: { name: CSI_DRIVER },
        spec: { podInfoOnMount: true, attachRequired: false, volumeLifecycleModes: ['Ephemeral'], tokenRequests: [{ audience: TOKEN_AUDIENCE }], requiresRepublish: true },
      },
    }),
  );

  // The node, Ready.
  await ignoreConflict(core.createNode({ body: fakeNode(NODE_NAME) }));
  const now = new Date().toISOString();
  const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  const node = await core.readNode({ name: NODE_NAME });
  node.status = {
    capacity: { cpu: '4', memory: '16393216Ki', pods: '110', 'ephemeral-storage': '129886128Ki' },
    allocatable: { cpu: '3860m', memory: '12880384Ki', pods: '110', 'ephemeral-storage': '119703055367' },
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ] as never,
    addresses: [
      { type: 'InternalIP', address: '10.224.0.4' },
      { type: 'Hostname', address: NODE_NAME },
    ],
    nodeInfo: {
      architecture: 'amd64',
      bootID: '00000000-0000-0000-0000-000000000001',
      containerRuntimeVersion: 'containerd://1.7.27-1',
      kernelVersion: '5.15.0-1089-azure',
      kubeProxyVersion: '',
      kubeletVersion: 'v1.37.2',
      machineID: 'sandbox',
      operatingSystem: 'linux',
      osImage: 'Ubuntu 22.04.5 LTS',
      systemUUID: 'sandbox',
    },
  };
  await core.replaceNodeStatus({ name: NODE_NAME, body: node });
  opts.log(`node ${NODE_NAME} Ready`);

  // Pods can only be created once the namespace's default service account exists.
  await eventually(
    'default service account',
    async () => {
      await core.readNamespacedServiceAccount({ name: 'default', namespace: 'default' });
      return true;
    },
    60_000,
  );
}
