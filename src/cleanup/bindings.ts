// Clean-up of identity bindings (pure): the instance's ClusterRoles and ClusterRoleBindings (found by
// its labels), and the AKS identity bindings of its identities on its cluster, unless another
// manifest's ledger relies on them. Only bindings of the action's own name (identityBindingName) are
// deleted: one made by hand and reused stays. The AKS-managed credential is never touched (AKS keeps
// it while any binding of the identity remains; see docs/identity-bindings.md).
import { bindingRecord, identityBindingName, managedClusterId } from '../identity/bindings.ts';
import type { LiveBinding } from '../identity/bindings.ts';
import { identityRecord, otherClaims } from '../ledger/model.ts';
import type { GrantLedger } from '../ledger/model.ts';
import { usesBinding } from '../manifest/types.ts';
import type { Manifest } from '../manifest/types.ts';
import { ACTION_NAME as MANAGED_BY_VALUE, INSTANCE_LABEL, MANAGED_BY_LABEL } from '../names.ts';
import { RBAC_API_VERSION, instanceId } from '../render/index.ts';
import type { CleanupStep, RbacKind } from './plan.ts';

export interface RbacFound {
  kind: RbacKind;
  name: string;
  labels: Record<string, string>;
}

export interface BindingCleanupInput {
  manifest: Manifest;
  subscriptionId: string;
  /** ARM id of the cluster ('' when the manifest binds nothing). */
  clusterId: string;
  rbac: RbacFound[];
  /** The cluster's bindings (undefined when the cluster could not be read: nothing is deleted). */
  bindings?: LiveBinding[];
  ledgers: GrantLedger[];
}

/**
 * The bindings this instance made: those the manifest's identities have under the action's names,
 * and those its own ledger still records on this cluster (a manifest that stopped binding).
 */
function ownBindingNames(input: BindingCleanupInput): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of input.manifest.targets) {
    const id = t.identity;
    if (!usesBinding(t) || (id.mode !== 'managed' && id.mode !== 'existing')) continue;
    out.set(identityBindingName(identityRecord(id.subscriptionId ?? input.subscriptionId, id.resourceGroup, id.name), id.name), id.name);
  }
  const prefix = bindingRecord(input.clusterId, '');
  const own = input.ledgers.find((l) => l.instance === input.manifest.instance.key);
  for (const r of own?.bindings ?? []) {
    if (r.startsWith(prefix) && !out.has(r.slice(prefix.length))) out.set(r.slice(prefix.length), 'an identity recorded in its ledger');
  }
  return out;
}

/** The cluster of a manifest that binds, else of the bindings its own ledger records ('' when neither). */
export function bindingClusterId(manifest: Manifest, subscriptionId: string, own: GrantLedger | undefined): string {
  if (manifest.targets.some(usesBinding)) return managedClusterId(manifest.cluster, subscriptionId);
  const suffix = `/providers/microsoft.containerservice/managedclusters/${manifest.cluster.name.toLowerCase()}/identitybindings/`;
  const recorded = own?.bindings?.find((r) => r.includes(suffix));
  return recorded ? recorded.slice(0, recorded.indexOf('/identitybindings/')) : '';
}

/** RBAC first (it grants use of the identity), then the bindings. */
export function planBindingCleanup(input: BindingCleanupInput): CleanupStep[] {
  const steps: CleanupStep[] = [];
  const instance = instanceId(input.manifest);
  for (const kind of ['ClusterRoleBinding', 'ClusterRole'] as const) {
    for (const o of input.rbac.filter((r) => r.kind === kind).sort((a, b) => a.name.localeCompare(b.name))) {
      if (o.labels[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE || o.labels[INSTANCE_LABEL] !== instance) continue;
      const planKind = kind === 'ClusterRole' ? 'cluster-role' : 'cluster-role-binding';
      steps.push({ item: { kind: planKind, name: o.name, action: 'delete', reason: 'applied by this manifest' }, op: { kind: 'kube', apiVersion: RBAC_API_VERSION, objectKind: kind, name: o.name } });
    }
  }
  if (!input.clusterId) return steps;
  const others = otherClaims(input.ledgers, instance);
  const cluster = input.manifest.cluster.name;
  for (const [name, identity] of ownBindingNames(input)) {
    const label = `${cluster}/${name}`;
    const live = input.bindings?.find((b) => b.name === name);
    if (!input.bindings) {
      steps.push({ item: { kind: 'identity-binding', name: label, action: 'keep', reason: "the cluster's identity bindings could not be read" } });
      continue;
    }
    if (!live) continue;
    const relying = others.bindings.get(bindingRecord(input.clusterId, name));
    if (relying?.length) {
      steps.push({ item: { kind: 'identity-binding', name: label, action: 'keep', reason: `still relied on by ${relying.join(', ')}` } });
      continue;
    }
    steps.push({
      item: { kind: 'identity-binding', name: label, action: 'delete', reason: `binds ${identity}; AKS keeps its credential aks-identity-binding while another binding of the identity remains` },
      op: { kind: 'identity-binding', clusterId: input.clusterId, name },
    });
  }
  return steps;
}

/** Binding steps go after the namespaced Kubernetes deletions, before the vault grants and identities. */
export function withBindingSteps(steps: CleanupStep[], bindingSteps: CleanupStep[]): CleanupStep[] {
  const at = steps.findIndex((s) => s.op !== undefined && s.op.kind !== 'kube');
  if (at < 0) return [...steps, ...bindingSteps];
  return [...steps.slice(0, at), ...bindingSteps, ...steps.slice(at)];
}
