// Pure planning of identities, federated credentials and vault grants (no I/O).
import { createHash } from 'node:crypto';
import type { IdentitySpec, Manifest, ObjectType, TargetSpec } from '../manifest/types.ts';
import type { PlanItem } from '../plan/types.ts';
import { MAX_FEDERATED_CREDENTIALS, TOKEN_EXCHANGE_AUDIENCE } from '../names.ts';
import type { PolicyPermissions } from '../keyvault/model.ts';

/** `system:serviceaccount:NS:SA`, the subject of a Kubernetes service-account token. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

/**
 * Federated credential name: `<cluster>-<namespace>-<sa>` restricted to what ARM accepts (3-120
 * characters, letters, digits, `-` and `_`, starting with a letter or digit); a hash suffix keeps
 * long or clashing names distinct and deterministic.
 */
export function federatedCredentialName(cluster: string, namespace: string, serviceAccount: string): string {
  const raw = `${cluster}-${namespace}-${serviceAccount}`;
  const clean = raw.replace(/[^A-Za-z0-9_-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  let name = clean;
  if (clean !== raw || clean.length > 120) {
    // sanitised or shortened: a hash of the raw name keeps distinct inputs distinct
    const h = createHash('sha256').update(raw).digest('hex').slice(0, 8);
    name = `${clean.slice(0, 111).replace(/[-_]+$/, '')}-${h}`.replace(/^-/, '');
  }
  while (name.length < 3) name += '-x';
  return name;
}

const NAMESPACE_UUID = 'a6f1e7a2-5d4b-4c57-9a0e-6b1f0d2c8e11'; // fixed namespace of the action's v5 ids

/** RFC 4122 version-5 UUID (SHA-1) of `name` in `namespace`. */
export function uuidV5(name: string, namespace = NAMESPACE_UUID): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  const b = hash.subarray(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x50;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Deterministic role-assignment name from scope + principal + role (case-insensitive inputs). */
export function roleAssignmentName(scope: string, principalId: string, roleDefinitionId: string): string {
  const roleGuid = roleDefinitionId.split('/').pop() ?? roleDefinitionId;
  return uuidV5(`${normalizeScope(scope)}|${principalId.toLowerCase()}|${roleGuid.toLowerCase()}`);
}

/** `/subscriptions/...` lower-cased, one leading slash, no trailing slash. */
export function normalizeScope(scope: string): string {
  return `/${scope.replace(/^\/+|\/+$/g, '')}`.toLowerCase();
}

/** True when `parent` is `child` or one of its ancestors (on path-segment boundaries). */
export function scopeCovers(parent: string, child: string): boolean {
  const p = normalizeScope(parent);
  const c = normalizeScope(child);
  return c === p || c.startsWith(`${p}/`);
}

/** A stable key telling identities apart (two targets naming the same identity share it). */
export function identityKey(spec: IdentitySpec, subscriptionId: string): string {
  switch (spec.mode) {
    case 'managed':
    case 'existing':
      return `uami:${(spec.subscriptionId ?? subscriptionId).toLowerCase()}/${spec.resourceGroup.toLowerCase()}/${spec.name.toLowerCase()}`;
    case 'external':
      return `external:${spec.principalId.toLowerCase()}`;
    case 'kubelet':
      return `kubelet:${spec.clientId.toLowerCase()}`;
  }
}

export interface IdentityGroup {
  key: string;
  spec: IdentitySpec;
  targets: TargetSpec[];
  /** Display name: the UAMI name, or the client id of an external/kubelet identity. */
  display: string;
}

export function groupIdentities(manifest: Manifest, subscriptionId: string): IdentityGroup[] {
  const groups = new Map<string, IdentityGroup>();
  for (const t of manifest.targets) {
    const key = identityKey(t.identity, subscriptionId);
    const g = groups.get(key);
    if (g) g.targets.push(t);
    else {
      const display = t.identity.mode === 'managed' || t.identity.mode === 'existing' ? t.identity.name : t.identity.clientId;
      groups.set(key, { key, spec: t.identity, targets: [t], display });
    }
  }
  return [...groups.values()];
}

export interface WantedCredential {
  name: string;
  issuer: string;
  subject: string;
  namespace: string;
}

export interface LiveCredential {
  name: string;
  issuer?: string;
  subject?: string;
  audiences?: string[];
}

/** The federated credentials an identity needs: one per (namespace, service account) it serves. */
export function wantedCredentials(manifest: Manifest, group: IdentityGroup, issuer: string): WantedCredential[] {
  if (group.spec.mode !== 'managed' && group.spec.mode !== 'existing') return [];
  const seen = new Set<string>();
  const out: WantedCredential[] = [];
  for (const t of group.targets) {
    if (!t.serviceAccount) continue;
    const subject = serviceAccountSubject(t.namespace, t.serviceAccount);
    if (seen.has(subject)) continue;
    seen.add(subject);
    out.push({ name: federatedCredentialName(manifest.cluster.name, t.namespace, t.serviceAccount), issuer, subject, namespace: t.namespace });
  }
  return out;
}

export interface FederationPlan {
  items: PlanItem[];
  writes: WantedCredential[];
  /** Set when the writes would exceed the 20-credential budget (nothing may be written then). */
  budgetError?: string;
}

export function planFederation(identityName: string, live: LiveCredential[], wanted: WantedCredential[]): FederationPlan {
  const items: PlanItem[] = [];
  const writes: WantedCredential[] = [];
  let creates = 0;
  for (const w of wanted) {
    const itemName = `${identityName}/${w.name}`;
    const byName = live.find((c) => c.name.toLowerCase() === w.name.toLowerCase());
    if (byName) {
      const reasons: string[] = [];
      if (byName.issuer !== w.issuer) reasons.push('issuer differs');
      if (byName.subject !== w.subject) reasons.push('subject differs');
      const aud = byName.audiences ?? [];
      if (aud.length !== 1 || aud[0] !== TOKEN_EXCHANGE_AUDIENCE) reasons.push('audience differs');
      if (reasons.length) {
        items.push({ kind: 'federated-credential', name: itemName, namespace: w.namespace, action: 'update', reason: reasons.join(', ') });
        writes.push(w);
      } else {
        items.push({ kind: 'federated-credential', name: itemName, namespace: w.namespace, action: 'unchanged' });
      }
      continue;
    }
    const twin = live.find((c) => c.issuer === w.issuer && c.subject === w.subject);
    if (twin) {
      items.push({ kind: 'federated-credential', name: itemName, namespace: w.namespace, action: 'unchanged', reason: `already federated as ${twin.name}` });
      continue;
    }
    creates++;
    items.push({ kind: 'federated-credential', name: itemName, namespace: w.namespace, action: 'create', reason: `subject ${w.subject}` });
    writes.push(w);
  }
  const plan: FederationPlan = { items, writes };
  if (live.length + creates > MAX_FEDERATED_CREDENTIALS) {
    plan.budgetError =
      `identity ${identityName} would hold ${live.length + creates} federated credentials (it has ${live.length}, ${creates} to add); ` +
      `Azure allows at most ${MAX_FEDERATED_CREDENTIALS} per user-assigned identity: split the service accounts over more identities`;
  }
  return plan;
}

export interface WantedGrant {
  scope: string;
  roleDefinitionId: string;
  roleName: string;
}

export interface LiveAssignment {
  scope: string;
  roleDefinitionId: string;
  principalId: string;
}

/** Key Vault's collection for an object type: where the provider reads it, and its RBAC scope. */
const collectionOf = (t: ObjectType): string => (t === 'key' ? 'keys' : t === 'cert' ? 'certificates' : 'secrets');

/** Scopes a target's identity must be granted at (vault, or one per mounted object, in its own collection). */
export function grantScopes(vaultId: string, target: TargetSpec): string[] {
  if (target.access.scope === 'vault') return [vaultId];
  return [...new Set(target.objects.map((o) => `${vaultId}/${collectionOf(o.objectType)}/${o.secret}`))];
}

/**
 * The data action the CSI provider's read of each object type needs: GetSecret for `secret`
 * (also a certificate fetched as a secret, with its private key), GetKey for `key`, GetCertificate for `cert`.
 */
export const READ_DATA_ACTIONS: Record<ObjectType, string> = {
  secret: 'Microsoft.KeyVault/vaults/secrets/getSecret/action',
  key: 'Microsoft.KeyVault/vaults/keys/read',
  cert: 'Microsoft.KeyVault/vaults/certificates/read',
};

export interface RolePermission {
  dataActions?: string[];
  notDataActions?: string[];
}

const actionPattern = (p: string): RegExp =>
  new RegExp(
    `^${p
      .split('*')
      .map((x) => x.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );

/** Whether a role's permissions allow a data action (wildcards as Azure RBAC reads them; notDataActions subtract). */
export function roleAllows(permissions: readonly RolePermission[], action: string): boolean {
  return permissions.some((p) => (p.dataActions ?? []).some((a) => actionPattern(a).test(action)) && !(p.notDataActions ?? []).some((a) => actionPattern(a).test(action)));
}

/**
 * Object types a target mounts that its role cannot read, with the missing data action and the
 * objects concerned; empty when the role covers them all.
 */
export function unreadableObjects(permissions: readonly RolePermission[], target: TargetSpec): { type: ObjectType; action: string; objects: string[] }[] {
  const out: { type: ObjectType; action: string; objects: string[] }[] = [];
  for (const type of ['secret', 'key', 'cert'] as const) {
    const objects = [...new Set(target.objects.filter((o) => o.objectType === type).map((o) => o.secret))];
    if (objects.length && !roleAllows(permissions, READ_DATA_ACTIONS[type])) out.push({ type, action: READ_DATA_ACTIONS[type], objects });
  }
  return out;
}

const roleGuid = (id: string): string => (id.split('/').pop() ?? id).toLowerCase();

/** Which grants are missing for a principal (undefined principal: the identity does not exist yet). */
export function planGrants(principalId: string | undefined, principalLabel: string, wanted: WantedGrant[], live: LiveAssignment[], namespace?: string): { items: PlanItem[]; missing: WantedGrant[] } {
  const items: PlanItem[] = [];
  const missing: WantedGrant[] = [];
  const seen = new Set<string>();
  for (const g of wanted) {
    const k = `${normalizeScope(g.scope)}|${roleGuid(g.roleDefinitionId)}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const name = `${g.roleName} for ${principalLabel} at ${shortScope(g.scope)}`;
    const covered =
      principalId !== undefined &&
      live.some((a) => a.principalId.toLowerCase() === principalId.toLowerCase() && roleGuid(a.roleDefinitionId) === roleGuid(g.roleDefinitionId) && scopeCovers(a.scope, g.scope));
    if (covered) items.push({ kind: 'role-assignment', name, namespace, action: 'unchanged' });
    else {
      items.push({ kind: 'role-assignment', name, namespace, action: 'create' });
      missing.push(g);
    }
  }
  return { items, missing };
}

/** `vaults/kv-x` or `vaults/kv-x/secrets/name` for display. */
export function shortScope(scope: string): string {
  const m = /\/providers\/Microsoft\.KeyVault\/(vaults\/.*)$/i.exec(scope);
  return m?.[1] ?? scope;
}

/** Access-policy permissions a principal needs: `get` on secrets, on keys/certs only when mounted. */
export function wantedPermissions(targets: TargetSpec[]): PolicyPermissions {
  const types = new Set(targets.flatMap((t) => t.objects.map((o) => o.objectType)));
  return { secrets: ['get'], keys: types.has('key') ? ['get'] : [], certificates: types.has('cert') ? ['get'] : [] };
}

export function missingPermissions(
  policies: { tenantId: string; objectId: string; permissions: { secrets?: string[]; keys?: string[]; certificates?: string[] } }[],
  tenantId: string,
  objectId: string,
  wanted: PolicyPermissions,
): { present: boolean; missing: PolicyPermissions } {
  const mine = policies.filter((p) => p.objectId.toLowerCase() === objectId.toLowerCase() && p.tenantId.toLowerCase() === tenantId.toLowerCase());
  const have = (k: keyof PolicyPermissions): Set<string> => new Set(mine.flatMap((p) => (p.permissions[k] ?? []).map((x) => x.toLowerCase())));
  const miss = (k: keyof PolicyPermissions): string[] => {
    const h = have(k);
    if (h.has('all')) return [];
    return wanted[k].filter((x) => !h.has(x.toLowerCase()));
  };
  return { present: mine.length > 0, missing: { secrets: miss('secrets'), keys: miss('keys'), certificates: miss('certificates') } };
}
