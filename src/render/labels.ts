// Label and annotation names on the objects the action renders and applies. The Kubernetes side
// selects and prunes by these; keep them in one place.
import type { Manifest } from '../manifest/types.ts';
import { shortHash } from '../util/hash.ts';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'akv-aks-action';
/** Which manifest (vault + cluster) an object belongs to: `instanceId(manifest)`. */
export const INSTANCE_LABEL = 'akv-aks-action/instance';

/** Microsoft Entra Workload ID (azure-workload-identity webhook) names. */
export const WORKLOAD_IDENTITY_USE_LABEL = 'azure.workload.identity/use';
export const WORKLOAD_IDENTITY_CLIENT_ID_ANNOTATION = 'azure.workload.identity/client-id';
export const WORKLOAD_IDENTITY_TENANT_ID_ANNOTATION = 'azure.workload.identity/tenant-id';

export const SECRET_PROVIDER_CLASS_API_VERSION = 'secrets-store.csi.x-k8s.io/v1';
export const SECRET_PROVIDER_CLASS_KIND = 'SecretProviderClass';

const MAX_LABEL_VALUE = 63;

function labelSafe(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * DNS-label-safe id of a manifest's vault and cluster, the value of INSTANCE_LABEL:
 * `<vault>--<cluster>` lowercased (vault names cannot contain `--`, so the split is unambiguous;
 * Key Vault names are case-insensitive, so lowercasing the vault changes nothing). When the cluster
 * name had to change to fit (`aks_prod`, `AKS-PROD` -> `aks-prod`) or the whole is longer than 63
 * characters, a hash of the exact names follows, so names that normalise alike stay distinct.
 */
export function instanceId(manifest: { vault: { name: string }; cluster: { name: string } } | Pick<Manifest, 'vault' | 'cluster'>): string {
  const cluster = labelSafe(manifest.cluster.name);
  const full = `${labelSafe(manifest.vault.name)}--${cluster}`;
  const normalised = cluster !== manifest.cluster.name;
  if (full.length <= MAX_LABEL_VALUE && !normalised) return full;
  const hash = shortHash(`${manifest.vault.name.toLowerCase()}/${manifest.cluster.name}`);
  return `${full.slice(0, MAX_LABEL_VALUE - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** The labels every rendered object carries. */
export function managedLabels(manifest: Pick<Manifest, 'vault' | 'cluster'>): Record<string, string> {
  return { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [INSTANCE_LABEL]: instanceId(manifest) };
}
