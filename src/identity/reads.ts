// The identity step's reads, each made once per run: the role definitions the targets name, each
// resource group's identities, the vault's role assignments and each identity's federated
// credentials. They depend on the manifest and the described vault only, so the pipeline starts them
// beside the secret sync (startIdentityReads) and the identity step finds them answered.
import { ARM_API_VERSIONS, armReads } from '../auth/arm.ts';
import { azureStatusOf } from '../auth/http.ts';
import type { AzureSession } from '../auth/login.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { usesBinding } from '../manifest/types.ts';
import type { Manifest } from '../manifest/types.ts';
import { semaphore, startedEarly } from '../util/concurrency.ts';
import { groupIdentities } from './plan.ts';
import type { LiveAssignment, LiveCredential, RolePermission } from './plan.ts';

/** ARM reads in flight at once when started ahead (the step's own writes stay 4 groups at a time). */
const READ_CONCURRENCY = 8;

export type LiveIdentity = { id?: string; clientId?: string; principalId?: string };

export interface RoleDefinition {
  id: string;
  permissions: RolePermission[];
}

export interface IdentityReads {
  /** Each role the targets name, as defined at the vault scope (absent when not found); empty on an access-policy vault. */
  roles(): Promise<Map<string, RoleDefinition>>;
  /** The user-assigned identities of a resource group by lower-case name; undefined when the list is not allowed. */
  identitiesIn(subscriptionId: string, rg: string): Promise<Map<string, LiveIdentity> | undefined>;
  /** The role assignments at the vault scope and above (and below, when a target grants per object); empty on an access-policy vault. */
  assignments(): Promise<LiveAssignment[]>;
  /** An identity's federated credentials; undefined when the identity is not there (404). */
  credentials(subscriptionId: string, rg: string, name: string): Promise<LiveCredential[] | undefined>;
}

/** ARM's path of a resource group's user-assigned identities, or of one of them. */
function identityPath(subscriptionId: string, rg: string, name?: string): string {
  const list = `/subscriptions/${encodeURIComponent(subscriptionId)}/resourceGroups/${encodeURIComponent(rg)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities`;
  return name === undefined ? list : `${list}/${encodeURIComponent(name)}`;
}

/** What the reads use of ARM's UserAssignedIdentity, FederatedIdentityCredential, RoleDefinition and RoleAssignment. */
interface IdentityJson {
  id?: string;
  name?: string;
  properties?: { clientId?: string; principalId?: string };
}
interface CredentialJson {
  name?: string;
  properties?: { issuer?: string; subject?: string; audiences?: string[] };
}
interface RoleDefinitionJson {
  id?: string;
  properties?: { roleName?: string; permissions?: RolePermission[] };
}
interface RoleAssignmentJson {
  properties?: { scope?: string; roleDefinitionId?: string; principalId?: string };
}

/** An identity's federated credentials (ARM FederatedIdentityCredentials_List); throws on 404. */
export async function listCredentials(session: AzureSession, subscriptionId: string, rg: string, name: string): Promise<LiveCredential[]> {
  const list = await armReads(session).list<CredentialJson>(`${identityPath(subscriptionId, rg, name)}/federatedIdentityCredentials`, ARM_API_VERSIONS.managedIdentity);
  return list.map((c) => ({ name: c.name ?? '', issuer: c.properties?.issuer, subject: c.properties?.subject, audiences: c.properties?.audiences }));
}

/** One identity by name (UserAssignedIdentities_Get); undefined when it does not exist. */
export async function getIdentity(session: AzureSession, subscriptionId: string, rg: string, name: string): Promise<LiveIdentity | undefined> {
  try {
    const i = await armReads(session).get<IdentityJson>(identityPath(subscriptionId, rg, name), ARM_API_VERSIONS.managedIdentity);
    return { id: i.id, clientId: i.properties?.clientId, principalId: i.properties?.principalId };
  } catch (e) {
    if (azureStatusOf(e) === 404) return undefined;
    throw e;
  }
}

/** One promise per argument list (ARM names compare without case). */
function memo<A extends string[], T>(load: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  const started = new Map<string, Promise<T>>();
  return (...args) => {
    const key = args.join('\n').toLowerCase();
    let p = started.get(key);
    if (!p) {
      p = load(...args);
      started.set(key, p);
    }
    return p;
  };
}

async function roleDefinitions(session: AzureSession, vault: VaultInfo, manifest: Manifest): Promise<Map<string, RoleDefinition>> {
  const found = new Map<string, RoleDefinition>();
  if (!vault.rbac) return found;
  for (const role of new Set(manifest.targets.map((t) => t.access.role))) {
    const $filter = `roleName eq '${role.replace(/'/g, "''")}'`;
    for (const d of await armReads(session).list<RoleDefinitionJson>(`${vault.id}/providers/Microsoft.Authorization/roleDefinitions`, ARM_API_VERSIONS.authorization, { $filter })) {
      if (d.properties?.roleName?.toLowerCase() === role.toLowerCase() && d.id) found.set(role, { id: d.id, permissions: d.properties.permissions ?? [] });
    }
  }
  return found;
}

async function vaultAssignments(session: AzureSession, vault: VaultInfo, manifest: Manifest): Promise<LiveAssignment[]> {
  if (!vault.rbac) return [];
  const perObject = manifest.targets.some((t) => t.access.scope !== 'vault');
  const live: LiveAssignment[] = [];
  const list = await armReads(session).list<RoleAssignmentJson>(`${vault.id}/providers/Microsoft.Authorization/roleAssignments`, ARM_API_VERSIONS.authorization, {
    $filter: perObject ? undefined : 'atScope()',
  });
  for (const { properties: a } of list) {
    if (a?.scope && a.roleDefinitionId && a.principalId) live.push({ scope: a.scope, roleDefinitionId: a.roleDefinitionId, principalId: a.principalId });
  }
  return live;
}

async function groupIdentityList(session: AzureSession, subscriptionId: string, rg: string): Promise<Map<string, LiveIdentity> | undefined> {
  const out = new Map<string, LiveIdentity>();
  try {
    for (const i of await armReads(session).list<IdentityJson>(identityPath(subscriptionId, rg), ARM_API_VERSIONS.managedIdentity)) {
      if (i.name) out.set(i.name.toLowerCase(), { id: i.id, clientId: i.properties?.clientId, principalId: i.properties?.principalId });
    }
  } catch (e) {
    if (azureStatusOf(e) === 403 || azureStatusOf(e) === 404) return undefined;
    throw e;
  }
  return out;
}

async function credentialsOrMissing(session: AzureSession, subscriptionId: string, rg: string, name: string): Promise<LiveCredential[] | undefined> {
  try {
    return await listCredentials(session, subscriptionId, rg, name);
  } catch (e) {
    if (azureStatusOf(e) === 404) return undefined;
    throw e;
  }
}

/** The reads, each made on first use (through `limit`, when given). */
export function identityReads(session: AzureSession, vault: VaultInfo, manifest: Manifest, limit: <R>(fn: () => Promise<R>) => Promise<R> = (fn) => fn()): IdentityReads {
  const roles = memo(() => limit(() => roleDefinitions(session, vault, manifest)));
  const assignments = memo(() => limit(() => vaultAssignments(session, vault, manifest)));
  return {
    roles,
    assignments,
    identitiesIn: memo((subscriptionId: string, rg: string) => limit(() => groupIdentityList(session, subscriptionId, rg))),
    credentials: memo((subscriptionId: string, rg: string, name: string) => limit(() => credentialsOrMissing(session, subscriptionId, rg, name))),
  };
}

/**
 * The reads started now, a few at a time: the role definitions, the vault's assignments, each managed
 * or existing identity's resource group and its credentials. A failed read fails the step that awaits
 * it, as if it had been made then; nothing awaits it unhandled meanwhile.
 */
export function startIdentityReads(session: AzureSession, vault: VaultInfo, manifest: Manifest): IdentityReads {
  const reads = identityReads(session, vault, manifest, semaphore(READ_CONCURRENCY));
  void startedEarly(reads.roles());
  void startedEarly(reads.assignments());
  for (const g of groupIdentities(manifest, session.subscriptionId)) {
    const spec = g.spec;
    if (spec.mode !== 'managed' && spec.mode !== 'existing') continue;
    const sub = spec.subscriptionId ?? session.subscriptionId;
    void startedEarly(reads.identitiesIn(sub, spec.resourceGroup));
    if (!g.targets.some(usesBinding)) void startedEarly(reads.credentials(sub, spec.resourceGroup, spec.name));
  }
  return reads;
}
