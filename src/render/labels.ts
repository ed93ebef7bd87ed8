// Label and annotation names on the objects the action renders and applies. The Kubernetes side
// selects and prunes by these; keep them in one place.
import { describeInstance } from '../manifest/instance.ts';
import type { Manifest } from '../manifest/types.ts';
import { shortHash } from '../util/hash.ts';
import { ACTION_NAME, INSTANCE_LABEL, MANAGED_BY_LABEL, OWNER_ANNOTATION } from '../names.ts';

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
 * The value of INSTANCE_LABEL: the manifest's instance key (owner + cluster, manifest/instance.ts),
 * so two manifests sharing a vault and a cluster never select, prune or clean up each other's objects.
 */
export function instanceId(manifest: Pick<Manifest, 'instance'>): string {
  return manifest.instance.key;
}

/**
 * The instance label value of releases before the ownership model (`<vault>--<cluster>`, shared by
 * every manifest of that vault and cluster): an object carrying it is this manifest's only when the
 * manifest declares it by name, and then its next apply moves it to the new value.
 */
export function legacyInstanceId(manifest: { vault: { name: string }; cluster: { name: string } }): string {
  const full = `${labelSafe(manifest.vault.name)}--${labelSafe(manifest.cluster.name)}`;
  if (full.length <= MAX_LABEL_VALUE) return full;
  const hash = shortHash(`${manifest.vault.name.toLowerCase()}/${manifest.cluster.name}`); // FNV-1a, as those releases cut it
  return `${full.slice(0, MAX_LABEL_VALUE - hash.length - 1).replace(/-+$/, '')}-${hash}`;
}

/** The labels every rendered object carries. */
export function managedLabels(manifest: Pick<Manifest, 'instance'>): Record<string, string> {
  return { [MANAGED_BY_LABEL]: ACTION_NAME, [INSTANCE_LABEL]: instanceId(manifest) };
}

/** The annotations every rendered object carries. */
export function managedAnnotations(manifest: Pick<Manifest, 'instance'>): Record<string, string> {
  return { [OWNER_ANNOTATION]: describeInstance(manifest.instance) };
}
