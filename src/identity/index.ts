// Identities per namespace (user-assigned managed identities), federated identity credentials for
// service accounts, and the vault grant (RBAC role assignment or access policy), planned purely in
// plan.ts and executed here exactly as planned.
import * as runner from '../runner/index.ts';
import type { AuthorizationManagementClient } from '@azure/arm-authorization';
import type { KeyVaultManagementClient } from '@azure/arm-keyvault';
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { authorizationClient, keyVaultManagementClient, msiClient, scopeParam } from '../auth/arm.ts';
import { errorCodes, hasCode, messageOf, retryWhile, azureStatusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import { usesBinding } from '../manifest/types.ts';
import type { Manifest } from '../manifest/types.ts';
import type { PlanItem } from '../plan/types.ts';
import { grantScopes, groupIdentities, missingPermissions, planFederation, planGrants, roleAssignmentName, unreadableObjects, wantedCredentials, wantedPermissions } from './plan.ts';
import type { IdentityGroup, RolePermission, WantedGrant } from './plan.ts';
import type { LedgerClaims } from '../ledger/model.ts';
import { ledgerBook, recordGrants } from '../ledger/store.ts';
import type { LedgerBook } from '../ledger/store.ts';
import { credentialRecord, identityRecord } from '../ledger/model.ts';
import { ACTION_NAME, IDENTITY_PROPAGATION_MS, OWNER_TAG, TOKEN_EXCHANGE_AUDIENCE } from '../names.ts';
import { mapAll } from '../util/concurrency.ts';
import type { VaultAccessPolicy, VaultInfo } from '../keyvault/model.ts';
import type { NamespaceIdentity } from './model.ts';

import { getIdentity, identityReads, listCredentials } from './reads.ts';
import type { IdentityReads, LiveIdentity } from './reads.ts';
import { AKS_MANAGED_CREDENTIAL, BINDING_SUGGESTION, bindingRecord, managedClusterId, planBinding } from './bindings.ts';
import { clusterBindings } from './binding-arm.ts';
import type { BindingDeps } from './binding-arm.ts';

export { proveAccess, ProofError } from './prove.ts';

export class IdentityError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'IdentityError';
  }
}

export const OWNER_TAGS = { [OWNER_TAG]: ACTION_NAME };

/** What to do about a role assignment ARM refused, by error code. */
const GRANT_FIXES: Record<string, string> = {
  RoleAssignmentLimitExceeded: 'the subscription has reached its role-assignment limit: remove unused assignments, or grant at vault scope instead of per secret (access.scope: vault)',
  AuthorizationFailed:
    'the workflow identity may not write role assignments there: give it Role Based Access Control Administrator (constrained to Key Vault roles) or User Access Administrator on the vault',
  LinkedAuthorizationFailed: 'the workflow identity lacks a permission on a linked resource (the role definition or the principal)',
  RoleDefinitionDoesNotExist: 'the role named in access.role does not exist at that scope',
};

/** A refused role assignment, named by what was asked (role, identity, scope) and ARM's code, with the fix. */
export function grantFailure(e: unknown, roleName: string, identity: string, scope: string): IdentityError {
  const codes = errorCodes(e);
  const code = codes.find((c) => c in GRANT_FIXES) ?? codes[0];
  const fix = code ? GRANT_FIXES[code] : undefined;
  return new IdentityError(`role assignment ${roleName} for ${identity} at ${scope} was refused${code ? ` (${code})` : ''}: ${messageOf(e)}${fix ? `; ${fix}` : ''}`, e);
}

interface ResolvedIdentity {
  exists: boolean;
  name?: string;
  clientId?: string;
  principalId?: string;
  resourceId?: string;
  subscriptionId: string;
  resourceGroup?: string;
}

/** An identity by name: from its resource group's list, else (not listed yet, or no list right) read by name. */
async function findIdentity(deps: GroupDeps, sub: string, rg: string, name: string): Promise<LiveIdentity | undefined> {
  const listed = (await deps.reads.identitiesIn(sub, rg))?.get(name.toLowerCase());
  return listed ?? getIdentity(deps.session, sub, rg, name);
}

/** Serialises async work per key (writes on one identity; the vault's access policies). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.tails.set(
      key,
      next.catch(() => undefined),
    );
    return next;
  }
}

/** Federating service accounts needs the cluster's https OIDC issuer. */
function checkIssuer(groups: IdentityGroup[], issuer: string): void {
  const needsIssuer = groups.some((g) => (g.spec.mode === 'managed' || g.spec.mode === 'existing') && g.targets.some((t) => t.serviceAccount && !usesBinding(t)));
  if (needsIssuer && !issuer) throw new IdentityError('the cluster OIDC issuer is required to federate service accounts (none was given or discovered)');
  if (needsIssuer && !/^https:\/\//.test(issuer)) throw new IdentityError(`the cluster OIDC issuer must be an https URL, got ${JSON.stringify(issuer)}`);
}

/**
 * RBAC vaults: the role definitions the targets name, looked up once at the vault scope, and warnings
 * for a role that cannot read what a target mounts.
 */
async function resolveRoles(reads: IdentityReads, vault: VaultInfo, manifest: Manifest): Promise<{ roleIds: Map<string, string>; warnings: string[] }> {
  const roleIds = new Map<string, string>();
  const warnings: string[] = [];
  if (!vault.rbac) return { roleIds, warnings };
  const defined = await reads.roles();
  const permissions = new Map<string, RolePermission[]>();
  for (const role of new Set(manifest.targets.map((t) => t.access.role))) {
    const found = defined.get(role);
    if (!found) throw new IdentityError(`role definition ${JSON.stringify(role)} not found at ${vault.id}`);
    roleIds.set(role, found.id);
    permissions.set(role, found.permissions);
  }
  // A role that cannot read what a target mounts makes every mount fail; the identity may hold
  // other grants, so this warns rather than stops (the proof step, when on, tests the real access).
  for (const t of manifest.targets) {
    for (const u of unreadableObjects(permissions.get(t.access.role) ?? [], t)) {
      const w = `${t.namespace}: role ${JSON.stringify(t.access.role)} does not grant ${u.action}, which the CSI provider needs to read ${u.type} object(s) ${u.objects.join(', ')}; unless the identity holds it from another grant, those mounts fail (a role that reads secrets, keys and certificates: "Key Vault Certificate User")`;
      runner.info(`warning: ${w}`); // the report turns it into an annotation
      warnings.push(w);
    }
  }
  return { roleIds, warnings };
}

/** Apply mode: records every group's claims in the ledger, then makes the grants; returns the access-policy entries added. */
async function recordThenGrant(session: AzureSession, vault: VaultInfo, manifest: Manifest, perGroup: GroupResult[], ledger: LedgerBook | undefined): Promise<VaultAccessPolicy[]> {
  // The ledger first: an interrupted run leaves a recorded claim, never an unrecorded grant.
  const book = ledger ?? ledgerBook(session, vault, manifest.instance);
  const claims: LedgerClaims = { instance: book.instance.key, manifest: book.described, assignments: [], policies: {}, addedNow: {}, identities: [], credentials: [], bindings: [] };
  for (const r of perGroup) {
    claims.assignments.push(...r.claims.assignments);
    claims.identities?.push(...(r.claims.identities ?? []));
    claims.credentials?.push(...(r.claims.credentials ?? []));
    claims.bindings?.push(...(r.claims.bindings ?? []));
    Object.assign(claims.policies, r.claims.policies);
    Object.assign(claims.addedNow, r.claims.addedNow);
  }
  // A binding the manifest no longer uses stays recorded (and in place) until clean-up removes it.
  claims.bindings = [...new Set([...(claims.bindings ?? []), ...((await book.own())?.bindings ?? [])])].sort();
  await recordGrants(book, claims);
  return (await mapAll(perGroup, 4, (r) => r.grant())).flat();
}

export async function ensureIdentities(
  session: AzureSession,
  vault: VaultInfo,
  manifest: Manifest,
  opts: { mode: 'plan' | 'apply'; issuer: string; ledger?: LedgerBook; bindingTimeoutMs?: number; reads?: IdentityReads },
): Promise<IdentityStepResult> {
  const apply = opts.mode === 'apply';
  const groups = groupIdentities(manifest, session.subscriptionId);
  checkIssuer(groups, opts.issuer);
  const reads = opts.reads ?? identityReads(session, vault, manifest);
  const { roleIds, warnings } = await resolveRoles(reads, vault, manifest);
  const deps: GroupDeps = {
    apply,
    issuer: opts.issuer,
    session,
    msi: (subscriptionId) => msiClient(session, subscriptionId),
    auth: () => authorizationClient(session),
    kvm: vault.rbac ? undefined : () => keyVaultManagementClient(session, vault.subscriptionId ?? session.subscriptionId),
    mutex: new KeyedMutex(),
    roleIds,
    reads,
    bindings: clusterBindings(session, manifest.targets.some(usesBinding) ? managedClusterId(manifest.cluster, session.subscriptionId) : '', opts.bindingTimeoutMs ?? IDENTITY_PROPAGATION_MS),
  };
  const perGroup = await mapAll(groups, 4, (g) => ensureGroup(session, vault, manifest, g, deps));
  const added = apply ? await recordThenGrant(session, vault, manifest, perGroup, opts.ledger) : [];
  warnings.push(...perGroup.flatMap((r) => r.warnings));
  const items = perGroup.flatMap((r) => r.items);
  const identities = perGroup.flatMap((r) => r.identities);
  const accessPolicies = vault.rbac ? vault.accessPolicies : [...(vault.accessPolicies ?? []), ...added];
  return { items, identities, warnings, accessPolicies };
}

export interface IdentityStepResult {
  items: PlanItem[];
  identities: NamespaceIdentity[];
  warnings: string[];
  /** The vault's access policies after this step (those described plus the entries it added); as described on an RBAC vault. */
  accessPolicies: VaultAccessPolicy[] | undefined;
}

interface GroupResult {
  items: PlanItem[];
  identities: NamespaceIdentity[];
  /** What the group's vault grant relies on and adds, for the grant ledger. */
  claims: Omit<LedgerClaims, 'instance' | 'manifest'>;
  /** Makes the planned identity binding and vault grant (run after the ledger records them); returns the access-policy entries it added. */
  grant: () => Promise<VaultAccessPolicy[]>;
  warnings: string[];
}

interface GroupDeps {
  apply: boolean;
  issuer: string;
  session: AzureSession;
  /** The SDK clients, for writes only (each loads its SDK on first use). */
  msi: (subscriptionId: string) => Promise<ManagedServiceIdentityClient>;
  auth: () => Promise<AuthorizationManagementClient>;
  kvm?: () => Promise<KeyVaultManagementClient>;
  mutex: KeyedMutex;
  roleIds: Map<string, string>;
  /** Identities per resource group, the vault's assignments, credentials per identity: each read once per run. */
  reads: IdentityReads;
  /** The identity bindings of the manifest's cluster (listed once per run, only when used). */
  bindings: BindingDeps;
}

/** The identity of a group as found (or created) in Azure, with what federation needs. */
interface GroupIdentity extends ResolvedIdentity {
  createdNow: boolean;
}

async function ensureGroup(session: AzureSession, vault: VaultInfo, manifest: Manifest, g: IdentityGroup, deps: GroupDeps): Promise<GroupResult> {
  const out: GroupResult = { items: [], identities: [], claims: { assignments: [], policies: {}, addedNow: {} }, grant: async () => [], warnings: [] };
  const namespaces = [...new Set(g.targets.map((t) => t.namespace))];
  const ns0 = namespaces.length === 1 ? namespaces[0] : undefined;
  const binding = g.targets.some(usesBinding);
  const resolved = await resolveGroupIdentity(session, manifest, g, deps, out, ns0);
  const bind = binding ? await planGroupBinding(manifest, g, deps, resolved, out, namespaces) : undefined;
  if (!binding) await federateGroup(manifest, g, deps, resolved, out);
  const label = resolved.name ?? resolved.clientId ?? g.display;
  const grantOf: GroupGrant = { vault, g, deps, resolved, out, label, ns0 };
  const grant = vault.rbac ? await planRoleGrant(grantOf) : planPolicyGrant(session, grantOf);
  out.grant = async () => {
    await bind?.();
    return (await grant?.()) ?? [];
  };
  out.identities = namespaces.map((ns) => ({
    namespace: ns,
    mode: g.spec.mode,
    name: resolved.name,
    clientId: resolved.clientId,
    principalId: resolved.principalId,
    resourceId: resolved.resourceId,
    serviceAccounts: [...new Set(g.targets.filter((t) => t.namespace === ns && t.serviceAccount).map((t) => t.serviceAccount as string))],
    ...(binding ? { federation: 'binding' as const } : {}),
  }));
  return out;
}

/** Finds the group's identity (creating a managed one in apply mode); external and kubelet ones are taken as declared. */
async function resolveGroupIdentity(session: AzureSession, manifest: Manifest, g: IdentityGroup, deps: GroupDeps, out: GroupResult, ns0: string | undefined): Promise<GroupIdentity> {
  const spec = g.spec;
  if (spec.mode === 'external') return { exists: true, clientId: spec.clientId, principalId: spec.principalId, subscriptionId: session.subscriptionId, createdNow: false };
  if (spec.mode === 'kubelet') {
    const principalId = spec.principalId ?? (await kubeletPrincipal(session, spec.clientId));
    return { exists: true, clientId: spec.clientId, principalId, subscriptionId: session.subscriptionId, createdNow: false };
  }
  const sub = spec.subscriptionId ?? session.subscriptionId;
  const itemName = `${spec.resourceGroup}/${spec.name}`;
  const live = await findIdentity(deps, sub, spec.resourceGroup, spec.name);
  const found: GroupIdentity = {
    exists: !!live,
    name: spec.name,
    clientId: live?.clientId,
    principalId: live?.principalId,
    resourceId: live?.id,
    subscriptionId: sub,
    resourceGroup: spec.resourceGroup,
    createdNow: false,
  };
  if (live) {
    out.items.push({ kind: 'identity', name: itemName, namespace: ns0, action: 'unchanged', reason: spec.mode === 'existing' ? 'existing identity' : undefined });
    return found;
  }
  if (spec.mode === 'existing') {
    throw new IdentityError(`user-assigned identity ${spec.name} (resource group ${spec.resourceGroup}, subscription ${sub}) does not exist; the manifest declares it as existing`);
  }
  out.items.push({ kind: 'identity', name: itemName, namespace: ns0, action: 'create', reason: `in ${spec.location}` });
  if (!deps.apply) return found;
  const tags = { ...manifest.identityDefaults.tags, ...OWNER_TAGS };
  const created = await deps.mutex.run(`uami:${g.key}`, async () => (await deps.msi(sub)).userAssignedIdentities.createOrUpdate(spec.resourceGroup, spec.name, { location: spec.location, tags }));
  runner.info(`identity ${itemName}: created (client id ${created.clientId})`);
  return { ...found, exists: true, clientId: created.clientId, principalId: created.principalId, resourceId: created.id, createdNow: true };
}

/** The ledger's record of a managed identity this instance relies on (for another manifest's clean-up). */
function identityClaims(g: IdentityGroup, resolved: GroupIdentity, out: GroupResult): string | undefined {
  if (!resolved.resourceGroup || !resolved.name) return undefined;
  const record = identityRecord(resolved.subscriptionId, resolved.resourceGroup, resolved.name);
  if (g.spec.mode === 'managed') out.claims.identities = [record];
  return record;
}

/** One federated credential per service account (managed / existing identities; writes serialised per identity). */
async function federateGroup(manifest: Manifest, g: IdentityGroup, deps: GroupDeps, resolved: GroupIdentity, out: GroupResult): Promise<void> {
  const record = identityClaims(g, resolved, out);
  if (!record || !resolved.resourceGroup || !resolved.name) return;
  const sub = resolved.subscriptionId;
  const wanted = wantedCredentials(manifest, g, deps.issuer);
  const rg = resolved.resourceGroup;
  const idName = resolved.name;
  out.claims.credentials = wanted.map((w) => credentialRecord(record, w.name));
  const live = !resolved.exists
    ? []
    : resolved.createdNow
      ? await retryWhile(
          () => listCredentials(deps.session, sub, rg, idName),
          (e) => azureStatusOf(e) === 404,
          { timeoutMs: IDENTITY_PROPAGATION_MS },
        )
      : ((await deps.reads.credentials(sub, rg, idName)) ?? (await listCredentials(deps.session, sub, rg, idName)));
  const fed = planFederation(idName, live, wanted);
  out.items.push(...fed.items);
  if (fed.budgetError) {
    const message = `${fed.budgetError}, or ${BINDING_SUGGESTION}`;
    if (deps.apply) throw new IdentityError(message);
    runner.info(`warning: ${message}`); // plan: the report turns it into an annotation
    out.warnings.push(message);
  }
  if (!deps.apply) return;
  await deps.mutex.run(`uami:${g.key}`, async () => {
    for (const w of fed.writes) {
      await retryWhile(
        async () => (await deps.msi(sub)).federatedIdentityCredentials.createOrUpdate(rg, idName, w.name, { issuer: w.issuer, subject: w.subject, audiences: [TOKEN_EXCHANGE_AUDIENCE] }),
        // 404: a just-created identity not yet visible to its child resources; 409: another write in flight
        (e) => (resolved.createdNow && azureStatusOf(e) === 404) || hasCode(e, 'ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity'),
        { timeoutMs: IDENTITY_PROPAGATION_MS, onRetry: (e) => runner.info(`federated credential ${idName}/${w.name}: retrying (${azureStatusOf(e) ?? ''} ${firstMessageLine(e)})`) },
      );
      runner.info(`federated credential ${idName}/${w.name}: ${w.subject} on ${w.issuer}`);
    }
  });
}

/**
 * One AKS identity binding for (cluster, identity), instead of credentials: planned here, made after
 * the ledger records it. The AKS-managed credential it creates is never written or listed by the action.
 */
async function planGroupBinding(manifest: Manifest, g: IdentityGroup, deps: GroupDeps, resolved: GroupIdentity, out: GroupResult, namespaces: string[]): Promise<(() => Promise<void>) | undefined> {
  identityClaims(g, resolved, out);
  const identityName = resolved.name ?? g.display;
  const live = resolved.exists && !resolved.createdNow ? await deps.bindings.list() : [];
  const plan = planBinding(manifest.cluster.name, identityName, resolved.resourceId, live, namespaces);
  out.items.push(plan.item);
  out.claims.bindings = [bindingRecord(deps.bindings.clusterId, plan.name)];
  const write = plan.write;
  const resourceId = resolved.resourceId;
  if (!deps.apply || !write) return undefined;
  if (!resourceId) throw new IdentityError(`identity ${identityName} has no resource id to bind`);
  return async () => {
    await deps.bindings.put(write, resourceId);
    runner.info(`identity binding ${manifest.cluster.name}/${write}: ${identityName} bound (AKS keeps the shared credential ${AKS_MANAGED_CREDENTIAL} on it)`);
  };
}

/** What both grant planners read: the group, its resolved identity and where its plan items go. */
interface GroupGrant {
  vault: VaultInfo;
  g: IdentityGroup;
  deps: GroupDeps;
  resolved: GroupIdentity;
  out: GroupResult;
  /** The identity as plan items name it. */
  label: string;
  /** The group's namespace when it has only one. */
  ns0: string | undefined;
}

/** RBAC vaults: the role assignments the group's targets need (made after the ledger records them). */
async function planRoleGrant({ vault, g, deps, resolved, out, label, ns0 }: GroupGrant): Promise<(() => Promise<VaultAccessPolicy[]>) | undefined> {
  const wantedGrants: WantedGrant[] = [];
  for (const t of g.targets) {
    const roleDefinitionId = deps.roleIds.get(t.access.role);
    if (!roleDefinitionId) throw new IdentityError(`role ${t.access.role} was not resolved`);
    for (const scope of grantScopes(vault.id, t)) wantedGrants.push({ scope, roleDefinitionId, roleName: t.access.role });
  }
  const pid = resolved.principalId;
  const pidNow = pid?.toLowerCase();
  const live = pidNow && !resolved.createdNow ? (await deps.reads.assignments()).filter((a) => a.principalId.toLowerCase() === pidNow) : [];
  const grants = planGrants(pid, label, wantedGrants, live, ns0);
  out.items.push(...grants.items);
  if (pid) out.claims.assignments = wantedGrants.map((w) => roleAssignmentName(w.scope, pid, w.roleDefinitionId));
  if (!deps.apply || !grants.missing.length) return undefined;
  if (!pid) throw new IdentityError(`identity ${label} has no principal id to grant ${grants.missing[0]?.roleName} to`);
  return async () => {
    await createAssignments(deps, grants.missing, pid, label);
    return [];
  };
}

/** Access-policy vaults: the permissions the group's targets need (added after the ledger records them). */
function planPolicyGrant(session: AzureSession, { vault, g, deps, resolved, out, label, ns0 }: GroupGrant): (() => Promise<VaultAccessPolicy[]>) | undefined {
  const wantedPerms = wantedPermissions(g.targets);
  const pid = resolved.principalId;
  const tenantId = vault.tenantId || session.tenantId;
  const state = pid ? missingPermissions(vault.accessPolicies ?? [], tenantId, pid, wantedPerms) : { present: false, missing: wantedPerms };
  const need = state.missing.secrets.length + state.missing.keys.length + state.missing.certificates.length > 0;
  const perms = [
    state.missing.secrets.length ? `secrets: ${state.missing.secrets.join(',')}` : '',
    state.missing.keys.length ? `keys: ${state.missing.keys.join(',')}` : '',
    state.missing.certificates.length ? `certificates: ${state.missing.certificates.join(',')}` : '',
  ].filter(Boolean);
  out.items.push({
    kind: 'access-policy',
    name: `${vault.name} for ${label}`,
    namespace: ns0,
    action: !need ? 'unchanged' : state.present ? 'update' : 'create',
    reason: need ? perms.join('; ') : undefined,
  });
  if (pid) {
    out.claims.policies[pid.toLowerCase()] = wantedPerms;
    out.claims.addedNow[pid.toLowerCase()] = state.missing;
  }
  if (!deps.apply || !need) return undefined;
  if (!pid) throw new IdentityError(`identity ${label} has no principal id for an access policy`);
  const kvm = deps.kvm;
  if (!kvm || !vault.resourceGroup) throw new IdentityError(`cannot update the access policies of ${vault.name}`);
  return async () => [await addAccessPolicy(deps, kvm, vault, { tenantId, objectId: pid, permissions: state.missing }, `${label}: ${perms.join('; ')}`)];
}

/** Creates the missing role assignments under their deterministic names (an existing one counts as made). */
async function createAssignments(deps: GroupDeps, missing: WantedGrant[], pid: string, label: string): Promise<void> {
  for (const m of missing) {
    const name = roleAssignmentName(m.scope, pid, m.roleDefinitionId);
    await retryWhile(
      async () => {
        try {
          await (await deps.auth()).roleAssignments.create(scopeParam(m.scope), name, { roleDefinitionId: m.roleDefinitionId, principalId: pid, principalType: 'ServicePrincipal' });
        } catch (e) {
          if (hasCode(e, 'RoleAssignmentExists')) return;
          if (hasCode(e, 'PrincipalNotFound')) throw e; // retried below while the principal propagates
          throw grantFailure(e, m.roleName, label, m.scope);
        }
      },
      (e) => hasCode(e, 'PrincipalNotFound'),
      { timeoutMs: IDENTITY_PROPAGATION_MS, onRetry: () => runner.info(`role assignment for ${label}: principal not visible yet, retrying`) },
    );
    runner.info(`role assignment: ${m.roleName} for ${label} at ${m.scope}`);
  }
}

/** Adds the missing access-policy permissions (one vault update at a time: ARM answers 409 to concurrent ones); returns the entry added. */
async function addAccessPolicy(deps: GroupDeps, kvm: NonNullable<GroupDeps['kvm']>, vault: VaultInfo, entry: VaultAccessPolicy, what: string): Promise<VaultAccessPolicy> {
  await deps.mutex.run(`vault:${vault.id}`, () =>
    retryWhile(
      async () => (await kvm()).vaults.updateAccessPolicy(vault.resourceGroup!, vault.name, 'add', { properties: { accessPolicies: [entry] } }),
      (e) => azureStatusOf(e) === 409 || hasCode(e, 'PrincipalNotFound'),
      { timeoutMs: IDENTITY_PROPAGATION_MS },
    ),
  );
  runner.info(`access policy on ${vault.name} for ${what}`);
  return entry;
}

function firstMessageLine(e: unknown): string {
  return messageOf(e).split('\n')[0]?.slice(0, 200) ?? '';
}

/** The principal (object) id of a kubelet identity given by client id: the UAMI with that client id. */
async function kubeletPrincipal(session: AzureSession, clientId: string): Promise<string> {
  const msi = await msiClient(session);
  for await (const i of msi.userAssignedIdentities.listBySubscription()) {
    if (i.clientId?.toLowerCase() === clientId.toLowerCase() && i.principalId) return i.principalId;
  }
  throw new IdentityError(`kubelet identity ${clientId}: no user-assigned identity with this client id is visible in subscription ${session.subscriptionId}; give its principalId in the manifest`);
}
