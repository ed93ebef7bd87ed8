// Pure planning of AKS identity bindings (`federation: binding`): one
// Microsoft.ContainerService/managedClusters/identityBindings resource per (cluster, identity), which
// makes AKS keep one shared federated credential on the identity. Facts and sources:
// docs/identity-bindings.md.
import { createHash } from 'node:crypto';
import type { ClusterRef } from '../manifest/types.ts';
import type { PlanItem } from '../plan/types.ts';

/** Stable api-version of identityBindings (azure-rest-api-specs .../aks/stable/2026-05-01). */
export const IDENTITY_BINDING_API_VERSION = '2026-05-01';
/** The federated credential AKS creates on a bound identity and manages itself: never touched by the action. */
export const AKS_MANAGED_CREDENTIAL = 'aks-identity-binding';

/**
 * The spec's name pattern: `^[a-z][a-z0-9]{0,63}$`, at most 63 characters (no hyphens).
 * @public the generated names are checked against it (test/unit/identity/bindings.test.ts)
 */
export const BINDING_NAME = /^[a-z][a-z0-9]{0,62}$/;

/**
 * The binding's name for an identity: `akv` + its name's letters and digits (lower-cased, at most 44)
 * + 16 hex of a SHA-256 of its resource id, so identities of the same name in two resource groups
 * get two names, and the same identity the same name on every cluster and run.
 */
export function identityBindingName(identityResourceId: string, identityName: string): string {
  const readable = identityName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '')
    .slice(0, 44);
  const hash = createHash('sha256').update(identityResourceId.toLowerCase()).digest('hex').slice(0, 16);
  return `akv${readable}${hash}`;
}

/** ARM id of the AKS managed cluster a manifest names (`cluster.resourceGroup` is required with bindings). */
export function managedClusterId(cluster: Pick<ClusterRef, 'name' | 'resourceGroup' | 'subscriptionId'>, subscriptionId: string): string {
  if (!cluster.resourceGroup) throw new Error(`cluster ${cluster.name}: identity bindings need cluster.resourceGroup`);
  return `/subscriptions/${cluster.subscriptionId ?? subscriptionId}/resourceGroups/${cluster.resourceGroup}/providers/Microsoft.ContainerService/managedClusters/${cluster.name}`;
}

/** How ledgers name a binding: its ARM id, lower-cased. */
export function bindingRecord(clusterId: string, name: string): string {
  return `${clusterId}/identityBindings/${name}`.toLowerCase();
}

export interface LiveBinding {
  name: string;
  /** properties.managedIdentity.resourceId */
  identityResourceId?: string;
  provisioningState?: string;
}

export interface BindingPlan {
  item: PlanItem;
  /** The binding to PUT, or undefined when one already binds the identity. */
  write?: string;
  /** The binding the identity is (or will be) bound through. */
  name: string;
}

const sameId = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

/**
 * What to do for one (cluster, identity): nothing when a binding of the cluster already names the
 * identity and has succeeded (whatever its name: one made by hand counts); a PUT otherwise. A binding
 * of our name naming another identity cannot be re-pointed (managedIdentity is create-only).
 */
export function planBinding(clusterName: string, identityName: string, identityResourceId: string | undefined, live: LiveBinding[], namespaces: string[]): BindingPlan {
  const name = identityResourceId ? identityBindingName(identityResourceId, identityName) : identityBindingName(identityName, identityName);
  const label = `${clusterName}/${name}`;
  const namespace = namespaces.length === 1 ? namespaces[0] : undefined;
  if (!identityResourceId) return { name, write: name, item: { kind: 'identity-binding', name: label, namespace, action: 'create', reason: `binds ${identityName} (identity created in this run)` } };
  const mine = live.find((b) => b.name === name);
  if (mine && !sameId(mine.identityResourceId, identityResourceId)) {
    throw new Error(`identity binding ${label} exists for another identity (${mine.identityResourceId ?? 'unknown'}); a binding cannot be re-pointed: delete it`);
  }
  const bound = mine ?? live.find((b) => sameId(b.identityResourceId, identityResourceId));
  if (bound && bound.provisioningState === 'Succeeded') {
    const reason = bound.name === name ? undefined : `already bound as ${bound.name}`;
    return { name: bound.name, item: { kind: 'identity-binding', name: label, namespace, action: 'unchanged', ...(reason ? { reason } : {}) } };
  }
  if (bound)
    return {
      name: bound.name,
      write: bound.name,
      item: { kind: 'identity-binding', name: `${clusterName}/${bound.name}`, namespace, action: 'update', reason: `provisioningState ${bound.provisioningState ?? 'unknown'}` },
    };
  return { name, write: name, item: { kind: 'identity-binding', name: label, namespace, action: 'create', reason: `binds ${identityName}` } };
}

/** The fix of a service account RBAC does not allow to use a bound identity (the proof's and the gate's `binding-not-allowed`). */
export function bindingNotAllowedFix(clientId: string): string {
  return `grant the service account the verb use-managed-identity on resource ${clientId} of API group cid.wi.aks.azure.com: run the action in apply mode (it applies the ClusterRole and ClusterRoleBinding for the manifest's service accounts), or restore the ClusterRoleBinding if it was removed`;
}

/** Why a federation budget error can be solved with bindings: appended to it. */
export const BINDING_SUGGESTION = 'set `federation: binding` on these targets (one AKS identity binding per cluster and one AKS-managed credential, whatever the number of namespaces and clusters)';
