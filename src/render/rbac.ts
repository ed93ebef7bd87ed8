// The Kubernetes RBAC of identity bindings: the AKS token proxy lets a service account use an
// identity only when RBAC allows it the verb `use-managed-identity` on the identity's client id in the
// API group `cid.wi.aks.azure.com`. One ClusterRole and one ClusterRoleBinding per (manifest instance,
// identity), named with the instance key so two manifests sharing an identity on one cluster never
// take over each other's objects; the binding lists exactly the manifest's service accounts.
import { usesBinding } from '../manifest/types.ts';
import type { Manifest, TargetSpec } from '../manifest/types.ts';
import { managedAnnotations, managedLabels } from './labels.ts';

/** A rendered RBAC object (the shape of render.ts's KubeObject, which imports this module). */
export interface RbacObject {
  apiVersion: string;
  kind: 'ClusterRole' | 'ClusterRoleBinding';
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  [field: string]: unknown;
}

/** The client id a target's workloads use (render.ts's clientIdFor with the run's facts). */
export type ClientIdOf = (target: TargetSpec) => string;

export const RBAC_API_VERSION = 'rbac.authorization.k8s.io/v1';
/** The Kubernetes RBAC the AKS token proxy checks: this verb on the identity's client id in this group. */
export const USE_MANAGED_IDENTITY_VERB = 'use-managed-identity';
export const USE_MANAGED_IDENTITY_GROUP = 'cid.wi.aks.azure.com';

/** `akv-aks-<instance key>-use-mi-<client id>`: stable, unique per instance and identity, at most 80 characters. */
export function useIdentityRoleName(manifest: Pick<Manifest, 'instance'>, clientId: string): string {
  return `akv-aks-${manifest.instance.key}-use-mi-${clientId
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')}`;
}

/** Service accounts (`namespace/name`, sorted) of the binding targets, per identity client id. */
export function boundServiceAccounts(manifest: Manifest, clientIdOf: ClientIdOf): Map<string, { namespace: string; name: string }[]> {
  const out = new Map<string, Map<string, { namespace: string; name: string }>>();
  for (const t of manifest.targets) {
    if (!usesBinding(t) || t.serviceAccount === undefined) continue;
    const clientId = clientIdOf(t);
    const accounts = out.get(clientId) ?? new Map<string, { namespace: string; name: string }>();
    accounts.set(`${t.namespace}/${t.serviceAccount}`, { namespace: t.namespace, name: t.serviceAccount });
    out.set(clientId, accounts);
  }
  return new Map([...out].map(([id, sas]) => [id, [...sas.keys()].sort().map((k) => sas.get(k)!)]));
}

/** The ClusterRole and ClusterRoleBinding of each bound identity, in client-id order. */
export function renderBindingRbac(manifest: Manifest, clientIdOf: ClientIdOf): RbacObject[] {
  const out: RbacObject[] = [];
  const byIdentity = boundServiceAccounts(manifest, clientIdOf);
  for (const clientId of [...byIdentity.keys()].sort()) {
    const name = useIdentityRoleName(manifest, clientId);
    const metadata = { name, labels: managedLabels(manifest), annotations: managedAnnotations(manifest) };
    out.push({
      apiVersion: RBAC_API_VERSION,
      kind: 'ClusterRole',
      metadata,
      rules: [{ apiGroups: [USE_MANAGED_IDENTITY_GROUP], resources: [clientId], verbs: [USE_MANAGED_IDENTITY_VERB] }],
    });
    out.push({
      apiVersion: RBAC_API_VERSION,
      kind: 'ClusterRoleBinding',
      metadata: { ...metadata },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: byIdentity.get(clientId)!.map((sa) => ({ kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace })),
    });
  }
  return out;
}
