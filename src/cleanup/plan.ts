// Pure planning of clean-up mode (no I/O): the ordered deletions and what is kept and why
// (the ownership rules: docs/architecture.md#clean-up-ownership-rules).
import { federatedCredentialName, normalizeScope, roleAssignmentName, scopeCovers, shortScope, wantedPermissions } from '../identity/plan.ts';
import type { LiveCredential } from '../identity/plan.ts';
import { credentialRecord, identityRecord, ledgerName, otherClaims, permKey } from '../ledger/model.ts';
import type { GrantLedger, OtherClaims } from '../ledger/model.ts';
import type { IdentitySpec, Manifest, TargetSpec } from '../manifest/types.ts';
import type { PlanItem, PlanKind } from '../plan/types.ts';
import { instanceId, legacyInstanceId } from '../render/labels.ts';
import { ACTION_NAME, FIELD_MANAGER, INSTANCE_LABEL, MANAGED_BY_LABEL, OWNER_TAG } from '../names.ts';
import type { PolicyPermissions } from '../keyvault/model.ts';

export type KubeKind = 'SecretProviderClass' | 'ServiceAccount' | 'Namespace';
/** The cluster-scoped RBAC of identity bindings (cleanup/bindings.ts plans their deletion). */
export type RbacKind = 'ClusterRole' | 'ClusterRoleBinding';

export interface KubeFound {
  kind: KubeKind;
  name: string;
  /** Namespace of a namespaced object (absent for a Namespace). */
  namespace?: string;
  labels: Record<string, string>;
  /** Field managers holding fields of the object (metadata.managedFields, status subresource excluded); undefined when unknown. */
  managers?: string[];
  /** metadata.deletionTimestamp is set. */
  deleting?: boolean;
  uid?: string;
  resourceVersion?: string;
}

/** One object found in a namespace the action may delete (to tell whether anything else lives there). */
export interface NamespaceEntry {
  kind: string;
  name: string;
}

export interface KubeState {
  /** The declared objects that exist (read by name) and every object carrying this manifest's labels. */
  objects: KubeFound[];
  /** Content of the namespaces the action owns, listed by kind (only those namespaces). */
  content: Record<string, NamespaceEntry[]>;
}

export interface FoundRoleAssignment {
  name: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
}

export interface FoundAccessPolicy {
  tenantId: string;
  objectId: string;
  applicationId?: string;
  permissions: { secrets?: string[]; keys?: string[]; certificates?: string[] };
}

export interface IdentityFound {
  /** identityKey() of the group. */
  key: string;
  spec: IdentitySpec;
  targets: TargetSpec[];
  /** False when a managed/existing identity does not exist (external and kubelet: always true). */
  exists: boolean;
  subscriptionId: string;
  tags?: Record<string, string>;
  principalId?: string;
  /** Client id of a managed/existing identity that exists (the audit renders with it). */
  clientId?: string;
  /** Federated credentials on a managed/existing identity. */
  credentials: LiveCredential[];
  /** Every role assignment of the principal in the subscription (RBAC vaults; empty otherwise). */
  roleAssignments: FoundRoleAssignment[];
}

export interface SecretFound {
  name: string;
  tags: Record<string, string>;
}

export interface SecretsState {
  /** Live secrets, keyed by lower-cased name. */
  live: Map<string, SecretFound>;
  /** Soft-deleted secrets (looked up only when purging), keyed by lower-cased name. */
  deleted: Map<string, SecretFound>;
}

export interface CleanupVault {
  id: string;
  name: string;
  rbac: boolean;
  tenantId: string;
  accessPolicies?: FoundAccessPolicy[];
}

export interface CleanupInput {
  manifest: Manifest;
  vault: CleanupVault;
  kube: KubeState;
  identities: IdentityFound[];
  /** Absent when the secrets were not read (cleanup.deleteSecrets false). */
  secrets?: SecretsState;
  /** The cluster's service-account issuer, when known: credentials of another issuer are kept. */
  issuer?: string;
  /** Display names of role definitions by id (lower-cased GUID); unknown ones show their GUID. */
  roleNames?: Map<string, string>;
  /** Every grant ledger in the vault (this manifest's and the others'); absent when not read. */
  ledgers?: GrantLedger[];
}

export type CleanupOp =
  | { kind: 'kube'; apiVersion: string; objectKind: KubeKind | RbacKind; name: string; namespace?: string; uid?: string; resourceVersion?: string }
  | { kind: 'identity-binding'; clusterId: string; name: string }
  | { kind: 'role-assignment'; scope: string; name: string }
  | { kind: 'access-policy'; tenantId: string; objectId: string; applicationId?: string; permissions: PolicyPermissions }
  | { kind: 'federated-credential'; subscriptionId: string; resourceGroup: string; identity: string; name: string }
  | { kind: 'identity'; subscriptionId: string; resourceGroup: string; name: string }
  | { kind: 'secret'; name: string; purge: boolean; alreadyDeleted: boolean };

export interface CleanupStep {
  item: PlanItem;
  /** The deletion to run (only for items with action `delete`). */
  op?: CleanupOp;
}

const PERMISSION_KINDS = ['secrets', 'keys', 'certificates'] as const;

const KIND_TO_PLAN: Record<KubeKind, PlanKind> = {
  Namespace: 'namespace',
  ServiceAccount: 'service-account',
  SecretProviderClass: 'secret-provider-class',
};
const API_VERSION: Record<KubeKind, string> = {
  Namespace: 'v1',
  ServiceAccount: 'v1',
  SecretProviderClass: 'secrets-store.csi.x-k8s.io/v1',
};
/** Deletion order on the Kubernetes side: the reverse of the apply order (Namespace, ServiceAccount, SecretProviderClass). */
const KUBE_ORDER: KubeKind[] = ['SecretProviderClass', 'ServiceAccount', 'Namespace'];

/** What Kubernetes itself puts into every namespace: never a reason to keep one. */
export function isNamespaceDefault(e: NamespaceEntry): boolean {
  return (e.kind === 'ServiceAccount' && e.name === 'default') || (e.kind === 'ConfigMap' && e.name === 'kube-root-ca.crt');
}

const lower = (s: string): string => s.toLowerCase();
const guidOf = (id: string): string => lower(id.split('/').pop() ?? id);

function kubeName(o: { kind: KubeKind; name: string; namespace?: string }): string {
  return o.kind === 'Namespace' ? o.name : `${o.namespace ?? ''}/${o.name}`;
}
function kubeKey(o: { kind: KubeKind; name: string; namespace?: string }): string {
  return `${o.kind}/${o.namespace ?? ''}/${o.name}`;
}

/** The Kubernetes objects the manifest declares (what apply would have created). */
export function declaredKubeObjects(manifest: Manifest): { kind: KubeKind; name: string; namespace?: string }[] {
  const out = new Map<string, { kind: KubeKind; name: string; namespace?: string }>();
  const add = (o: { kind: KubeKind; name: string; namespace?: string }): void => {
    if (!out.has(kubeKey(o))) out.set(kubeKey(o), o);
  };
  for (const t of manifest.targets) {
    if (t.createNamespace) add({ kind: 'Namespace', name: t.namespace });
    if (t.serviceAccount && t.identity.mode !== 'kubelet') add({ kind: 'ServiceAccount', name: t.serviceAccount, namespace: t.namespace });
    add({ kind: 'SecretProviderClass', name: t.secretProviderClass, namespace: t.namespace });
  }
  return [...out.values()];
}

function summarise(entries: NamespaceEntry[], max = 5): string {
  const shown = entries.slice(0, max).map((e) => `${e.kind}/${e.name}`);
  return entries.length > max ? `${shown.join(', ')} and ${entries.length - max} more` : shown.join(', ');
}

/** Why a found Kubernetes object may not be deleted (undefined: it may). Namespace content is checked separately. */
export function kubeKeepReason(o: KubeFound, instance: string, legacy?: string): string | undefined {
  const managedBy = o.labels[MANAGED_BY_LABEL];
  const inst = o.labels[INSTANCE_LABEL];
  if (managedBy !== ACTION_NAME || inst === undefined) return `not created by the action (lacks the ${MANAGED_BY_LABEL}=${ACTION_NAME} and ${INSTANCE_LABEL} labels)`;
  if (legacy !== undefined && inst === legacy)
    return `carries the label of releases before manifest ownership (${INSTANCE_LABEL}=${inst}), shared by every manifest of this vault and cluster: which one applied it cannot be told, so it stays (an apply of this manifest moves it to its own label)`;
  if (inst !== instance) return `belongs to another manifest (${INSTANCE_LABEL}=${inst})`;
  const others = (o.managers ?? []).filter((m) => m !== FIELD_MANAGER);
  if (others.length) return `also changed by ${[...new Set(others)].sort().join(', ')}: not only the action's (delete it by hand if it is no longer needed)`;
  return undefined;
}

function planKube(input: CleanupInput): CleanupStep[] {
  const instance = instanceId(input.manifest);
  const found = new Map<string, KubeFound>();
  for (const o of input.kube.objects) found.set(kubeKey(o), o);
  const declared = declaredKubeObjects(input.manifest);
  const all = new Map<string, { kind: KubeKind; name: string; namespace?: string }>();
  for (const d of declared) all.set(kubeKey(d), d);
  for (const o of input.kube.objects) if (!all.has(kubeKey(o))) all.set(kubeKey(o), o);

  const steps: CleanupStep[] = [];
  const deleted = new Set<string>();
  for (const kind of KUBE_ORDER) {
    const ofKind = [...all.values()].filter((o) => o.kind === kind).sort((a, b) => kubeName(a).localeCompare(kubeName(b)));
    for (const ref of ofKind) {
      const base = { kind: KIND_TO_PLAN[kind], name: kubeName(ref), namespace: ref.namespace ?? (kind === 'Namespace' ? ref.name : undefined) };
      const o = found.get(kubeKey(ref));
      if (!o) {
        steps.push({ item: { ...base, action: 'unchanged', reason: 'not found' } });
        continue;
      }
      if (o.deleting) {
        steps.push({ item: { ...base, action: 'unchanged', reason: 'already being deleted' } });
        continue;
      }
      let reason = kubeKeepReason(o, instance, legacyInstanceId(input.manifest));
      if (!reason && kind === 'Namespace') {
        const left = (input.kube.content[o.name] ?? []).filter((e) => {
          if (isNamespaceDefault(e)) return false;
          if (e.kind === 'ServiceAccount' || e.kind === 'SecretProviderClass') return !deleted.has(`${e.kind}/${o.name}/${e.name}`);
          return true;
        });
        if (left.length) reason = `holds objects the action does not own: ${summarise(left)}`;
      }
      if (reason) {
        steps.push({ item: { ...base, action: 'keep', reason } });
        continue;
      }
      deleted.add(kubeKey(o));
      steps.push({
        item: { ...base, action: 'delete', reason: kind === 'Namespace' ? 'created by the action, nothing else left in it' : 'created by the action' },
        op: { kind: 'kube', apiVersion: API_VERSION[kind], objectKind: kind, name: o.name, namespace: o.namespace, uid: o.uid, resourceVersion: o.resourceVersion },
      });
    }
  }
  return steps;
}

function identityLabel(g: IdentityFound): string {
  return g.spec.mode === 'managed' || g.spec.mode === 'existing' ? g.spec.name : g.spec.clientId;
}
function singleNamespace(g: IdentityFound): string | undefined {
  const ns = [...new Set(g.targets.map((t) => t.namespace))];
  return ns.length === 1 ? ns[0] : undefined;
}

/** True when the identity is one the action created (managed mode and the ownership tag). */
export function identityOwned(g: IdentityFound): boolean {
  return g.spec.mode === 'managed' && g.exists && g.tags?.[OWNER_TAG] === ACTION_NAME;
}

const SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

/** Why a federated credential is not the action's (undefined: it is, and may be deleted). */
export function credentialKeepReason(c: LiveCredential, cluster: string, issuer: string | undefined): string | undefined {
  const m = SUBJECT.exec(c.subject ?? '');
  if (!m || federatedCredentialName(cluster, m[1]!, m[2]!).toLowerCase() !== c.name.toLowerCase()) {
    return `not created by the action for cluster ${cluster}`;
  }
  if (issuer !== undefined && c.issuer !== issuer) return `issuer differs from this cluster's (${c.issuer ?? 'none'})`;
  return undefined;
}

/** True when a role assignment is one the action created for this vault (its deterministic name, at or below the vault). */
export function assignmentOwned(a: FoundRoleAssignment, vaultId: string): boolean {
  return scopeCovers(vaultId, a.scope) && lower(a.name) === roleAssignmentName(a.scope, a.principalId, a.roleDefinitionId);
}

interface IdentityPlan {
  grants: CleanupStep[];
  credentials: CleanupStep[];
  identity: CleanupStep[];
}

/** One identity's clean-up planning: what every part of it reads, and the other manifests relying on its grants. */
interface IdentityCleanup {
  input: CleanupInput;
  g: IdentityFound;
  label: string;
  namespace: string | undefined;
  owned: boolean;
  claims: OtherClaims | undefined;
  /** Other manifests whose ledgers rely on a grant of this identity (which then stays, and so does it). */
  sharedBy: Set<string>;
}

/** RBAC vaults: the identity's role assignments at or near the vault; counts those the action did not create. */
function planRoleAssignments(c: IdentityCleanup): { steps: CleanupStep[]; foreign: number } {
  const { input, g, label, namespace, claims } = c;
  const steps: CleanupStep[] = [];
  let foreign = 0;
  for (const a of [...g.roleAssignments].sort((x, y) => normalizeScope(x.scope).localeCompare(normalizeScope(y.scope)))) {
    const mine = assignmentOwned(a, input.vault.id);
    if (!mine) foreign++;
    const near = scopeCovers(input.vault.id, a.scope) || scopeCovers(a.scope, input.vault.id);
    if (!mine && !near) continue;
    const role = input.roleNames?.get(guidOf(a.roleDefinitionId)) ?? guidOf(a.roleDefinitionId);
    const name = `${role} for ${label} at ${shortScope(a.scope)}`;
    const sharedWith = mine ? claims?.assignments.get(lower(a.name)) : undefined;
    if (sharedWith?.length) {
      // Azure holds one assignment per principal, role and scope: another manifest's grant is this same one.
      for (const o of sharedWith) c.sharedBy.add(o);
      steps.push({ item: { kind: 'role-assignment', name, namespace, action: 'keep', reason: `created by the action, still relied on by ${sharedWith.join(', ')}` } });
    } else if (mine) {
      steps.push({ item: { kind: 'role-assignment', name, namespace, action: 'delete', reason: 'created by the action' }, op: { kind: 'role-assignment', scope: a.scope, name: a.name } });
    } else {
      steps.push({ item: { kind: 'role-assignment', name, namespace, action: 'keep', reason: 'not created by the action' } });
    }
  }
  return { steps, foreign };
}

/** Of the permissions the action grants that an entry holds: those to remove, and why the others stay. */
function policyRemovals(c: IdentityCleanup, pid: string, has: (k: keyof PolicyPermissions) => Set<string>): { remove: PolicyPermissions; kept: string[] } {
  const granted = wantedPermissions(c.g.targets);
  const remove: PolicyPermissions = { secrets: [], keys: [], certificates: [] };
  const shared = new Set<string>();
  const foreign: string[] = [];
  for (const k of PERMISSION_KINDS) {
    for (const perm of granted[k].filter((x) => has(k).has(x))) {
      const key = permKey(pid, k, perm);
      const others = c.claims?.permissions.get(key);
      if (others?.length) {
        for (const o of others) {
          shared.add(o);
          c.sharedBy.add(o);
        }
      }
      // An entry has no owner mark: the ledger says whether the action added the permission.
      else if (c.owned || c.claims?.added.has(key)) remove[k].push(perm);
      else foreign.push(`${k}: ${perm}`);
    }
  }
  const kept = [
    shared.size ? `still relied on by ${[...shared].join(', ')}` : '',
    foreign.length ? `${foreign.join(', ')} not recorded as added by the action${c.owned ? '' : " (the identity is not the action's): remove by hand if the action added it"}` : '',
  ].filter(Boolean);
  return { remove, kept };
}

/** Access-policy vaults: the permissions the action granted the identity, removed unless relied on or not its own. */
function planPolicyEntry(c: IdentityCleanup, principalId: string): CleanupStep {
  const { input, label, namespace } = c;
  const pid = lower(principalId);
  const tenant = lower(input.vault.tenantId);
  const entries = (input.vault.accessPolicies ?? []).filter((p) => lower(p.objectId) === pid && (!tenant || lower(p.tenantId) === tenant));
  const name = `${input.vault.name} for ${label}`;
  if (!entries.length) return { item: { kind: 'access-policy', name, namespace, action: 'unchanged', reason: 'no entry' } };
  const has = (k: keyof PolicyPermissions): Set<string> => new Set(entries.flatMap((e) => (e.permissions[k] ?? []).map(lower)));
  const { remove, kept } = policyRemovals(c, pid, has);
  const removing = remove.secrets.length + remove.keys.length + remove.certificates.length;
  const extra = PERMISSION_KINDS.some((k) => [...has(k)].some((p) => !remove[k].includes(p)));
  if (!removing) {
    return { item: { kind: 'access-policy', name, namespace, action: 'keep', reason: kept.length ? kept.join('; ') : 'holds none of the permissions the action grants' } };
  }
  const perms = PERMISSION_KINDS.filter((k) => remove[k].length).map((k) => `${k}: ${remove[k].join(',')}`);
  const entry = entries[0]!;
  return {
    item: { kind: 'access-policy', name, namespace, action: 'delete', reason: `${perms.join('; ')}${extra ? ' (other permissions stay)' : ''}${kept.length ? `; ${kept.join('; ')}` : ''}` },
    op: { kind: 'access-policy', tenantId: entry.tenantId, objectId: entry.objectId, applicationId: entry.applicationId, permissions: remove },
  };
}

/** The user-assigned identity's federated credentials: deleted when the action's own; counts those kept. */
function planCredentials(c: IdentityCleanup, uami: { resourceGroup: string; name: string }): { steps: CleanupStep[]; foreign: number } {
  const { input, g, namespace, claims } = c;
  const steps: CleanupStep[] = [];
  let foreign = 0;
  for (const cred of [...g.credentials].sort((x, y) => x.name.localeCompare(y.name))) {
    const relying = claims?.credentials.get(credentialRecord(identityRecord(g.subscriptionId, uami.resourceGroup, uami.name), cred.name));
    const reason = credentialKeepReason(cred, input.manifest.cluster.name, input.issuer) ?? (relying ? `still relied on by ${relying.join(', ')}` : undefined);
    const name = `${uami.name}/${cred.name}`;
    if (reason) {
      foreign++;
      steps.push({ item: { kind: 'federated-credential', name, namespace, action: 'keep', reason } });
    } else {
      steps.push({
        item: { kind: 'federated-credential', name, namespace, action: 'delete', reason: `subject ${cred.subject ?? ''}` },
        op: { kind: 'federated-credential', subscriptionId: g.subscriptionId, resourceGroup: uami.resourceGroup, identity: uami.name, name: cred.name },
      });
    }
  }
  return { steps, foreign };
}

/** Why the identity itself stays, or undefined when the action may delete it. */
function identityKeepReason(c: IdentityCleanup, uami: { resourceGroup: string; name: string } | undefined, foreignCredentials: number, foreignAssignments: number): string | undefined {
  const { g, claims } = c;
  if (g.spec.mode === 'existing') return 'existing identity: never deleted';
  if (g.spec.mode === 'external') return 'external identity: never deleted';
  if (g.spec.mode === 'kubelet') return 'kubelet identity: never deleted';
  if (!c.owned) return `not created by the action (no ${OWNER_TAG}: ${ACTION_NAME} tag)`;
  if (foreignCredentials) return `still holds ${foreignCredentials} federated credential(s) the action did not create`;
  if (foreignAssignments) return `still holds ${foreignAssignments} role assignment(s) the action did not create`;
  if (c.sharedBy.size) return `its vault grant is still relied on by ${[...c.sharedBy].join(', ')}`;
  if (uami && claims?.identities.has(identityRecord(g.subscriptionId, uami.resourceGroup, uami.name))) {
    return `still relied on by ${claims.identities.get(identityRecord(g.subscriptionId, uami.resourceGroup, uami.name))?.join(', ')}`;
  }
  return undefined;
}

function planIdentity(input: CleanupInput, g: IdentityFound): IdentityPlan {
  const out: IdentityPlan = { grants: [], credentials: [], identity: [] };
  const namespace = singleNamespace(g);
  const uami = g.spec.mode === 'managed' || g.spec.mode === 'existing' ? g.spec : undefined;
  const c: IdentityCleanup = { input, g, label: identityLabel(g), namespace, owned: false, claims: undefined, sharedBy: new Set() };
  const idItemName = uami ? `${uami.resourceGroup}/${uami.name}` : c.label;
  if (uami && !g.exists) {
    out.identity.push({ item: { kind: 'identity', name: idItemName, namespace, action: 'unchanged', reason: 'not found' } });
    return out;
  }
  c.owned = identityOwned(g);
  c.claims = input.ledgers ? otherClaims(input.ledgers, instanceId(input.manifest)) : undefined;

  let foreignAssignments = 0;
  if (input.vault.rbac) {
    const assignments = planRoleAssignments(c);
    out.grants.push(...assignments.steps);
    foreignAssignments = assignments.foreign;
  } else if (g.principalId) {
    out.grants.push(planPolicyEntry(c, g.principalId));
  }
  const credentials = uami ? planCredentials(c, uami) : { steps: [], foreign: 0 };
  out.credentials.push(...credentials.steps);

  const keep = identityKeepReason(c, uami, credentials.foreign, foreignAssignments);
  if (keep || !uami) {
    out.identity.push({ item: { kind: 'identity', name: idItemName, namespace, action: 'keep', reason: keep } });
  } else {
    out.identity.push({
      item: { kind: 'identity', name: idItemName, namespace, action: 'delete', reason: 'created by the action' },
      op: { kind: 'identity', subscriptionId: g.subscriptionId, resourceGroup: uami.resourceGroup, name: uami.name },
    });
  }
  return out;
}

function planSecrets(input: CleanupInput): CleanupStep[] {
  const steps: CleanupStep[] = [];
  const claims = input.ledgers ? otherClaims(input.ledgers, instanceId(input.manifest)) : undefined;
  const opts = input.manifest.cleanup ?? { deleteSecrets: false, purge: false };
  const seen = new Set<string>();
  for (const s of input.manifest.secrets) {
    const key = lower(s.name);
    if (seen.has(key)) continue;
    seen.add(key);
    const base = { kind: 'secret' as const, name: s.name };
    if (s.source.kind === 'existing') {
      steps.push({ item: { ...base, action: 'keep', reason: 'existing secret: never written by the action' } });
      continue;
    }
    if (!opts.deleteSecrets) {
      steps.push({ item: { ...base, action: 'keep', reason: 'secrets stay (recoverable data): set cleanup.deleteSecrets to delete them' } });
      continue;
    }
    const live = input.secrets?.live.get(key);
    const deleted = input.secrets?.deleted.get(key);
    const owned = (f: SecretFound | undefined): boolean => f?.tags[OWNER_TAG] === ACTION_NAME;
    const declarers = claims?.secrets.get(key);
    if (live && declarers) {
      steps.push({ item: { ...base, action: 'keep', reason: `shared: still declared by ${declarers.join(', ')}` } });
    } else if (live) {
      if (!owned(live)) {
        steps.push({ item: { ...base, action: 'keep', reason: `not written by the action (no ${OWNER_TAG}: ${ACTION_NAME} tag)` } });
      } else {
        steps.push({
          item: { ...base, action: 'delete', reason: opts.purge ? 'soft-delete, then purge (irreversible)' : 'soft-delete (recoverable)' },
          op: { kind: 'secret', name: live.name, purge: opts.purge, alreadyDeleted: false },
        });
      }
    } else if (deleted && opts.purge && owned(deleted)) {
      steps.push({ item: { ...base, action: 'delete', reason: 'purge the soft-deleted secret (irreversible)' }, op: { kind: 'secret', name: deleted.name, purge: true, alreadyDeleted: true } });
    } else if (deleted) {
      steps.push({ item: { ...base, action: 'unchanged', reason: owned(deleted) ? 'already deleted (recoverable)' : 'already deleted, not written by the action' } });
    } else {
      steps.push({ item: { ...base, action: 'unchanged', reason: 'not found' } });
    }
  }
  return steps;
}

/**
 * The clean-up, in execution order: the reverse of the order apply creates things in —
 * SecretProviderClasses, ServiceAccounts, Namespaces; then vault grants (role assignments or
 * access-policy entries), federated credentials, identities; last the secrets (only when asked).
 */
export function planCleanup(input: CleanupInput): CleanupStep[] {
  const perIdentity = input.identities.map((g) => planIdentity(input, g));
  return [
    ...planKube(input),
    ...perIdentity.flatMap((p) => p.grants),
    ...perIdentity.flatMap((p) => p.credentials),
    ...perIdentity.flatMap((p) => p.identity),
    ...planLedger(input),
    ...planSecrets(input),
  ];
}

/** This manifest's grant ledger goes once its grants are gone (other manifests' ledgers stay). */
function planLedger(input: CleanupInput): CleanupStep[] {
  const instance = instanceId(input.manifest);
  if (!input.ledgers?.some((l) => l.instance === instance)) return [];
  const name = ledgerName(instance);
  return [
    { item: { kind: 'secret', name, action: 'delete', reason: "this manifest's grant ledger (value-free state, recoverable)" }, op: { kind: 'secret', name, purge: false, alreadyDeleted: false } },
  ];
}
