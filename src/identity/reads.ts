// The identity step's reads, each made once per run: the role definitions the targets name, each
// resource group's identities, the vault's role assignments and each identity's federated
// credentials. They depend on the manifest and the described vault only, so the pipeline starts them
// beside the secret sync (startIdentityReads) and the identity step finds them answered.
import type { ManagedServiceIdentityClient } from '@azure/arm-msi';
import { authorizationClient, msiClient, scopeParam } from '../auth/arm.ts';
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

export async function listCredentials(msi: ManagedServiceIdentityClient, rg: string, name: string): Promise<LiveCredential[]> {
  const out: LiveCredential[] = [];
  for await (const c of msi.federatedIdentityCredentials.list(rg, name)) {
    out.push({ name: c.name ?? '', issuer: c.issuer, subject: c.subject, audiences: c.audiences });
  }
  return out;
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
  const auth = authorizationClient(session);
  for (const role of new Set(manifest.targets.map((t) => t.access.role))) {
    const filter = `roleName eq '${role.replace(/'/g, "''")}'`;
    for await (const d of auth.roleDefinitions.list(scopeParam(vault.id), { filter })) {
      if (d.roleName?.toLowerCase() === role.toLowerCase() && d.id) found.set(role, { id: d.id, permissions: d.permissions ?? [] });
    }
  }
  return found;
}

async function vaultAssignments(session: AzureSession, vault: VaultInfo, manifest: Manifest): Promise<LiveAssignment[]> {
  if (!vault.rbac) return [];
  const perObject = manifest.targets.some((t) => t.access.scope !== 'vault');
  const live: LiveAssignment[] = [];
  for await (const a of authorizationClient(session).roleAssignments.listForScope(scopeParam(vault.id), perObject ? undefined : { filter: 'atScope()' })) {
    if (a.scope && a.roleDefinitionId && a.principalId) live.push({ scope: a.scope, roleDefinitionId: a.roleDefinitionId, principalId: a.principalId });
  }
  return live;
}

async function groupIdentityList(session: AzureSession, subscriptionId: string, rg: string): Promise<Map<string, LiveIdentity> | undefined> {
  const out = new Map<string, LiveIdentity>();
  try {
    for await (const i of msiClient(session, subscriptionId).userAssignedIdentities.listByResourceGroup(rg)) {
      if (i.name) out.set(i.name.toLowerCase(), { id: i.id, clientId: i.clientId, principalId: i.principalId });
    }
  } catch (e) {
    if (azureStatusOf(e) === 403 || azureStatusOf(e) === 404) return undefined;
    throw e;
  }
  return out;
}

async function credentialsOrMissing(session: AzureSession, subscriptionId: string, rg: string, name: string): Promise<LiveCredential[] | undefined> {
  try {
    return await listCredentials(msiClient(session, subscriptionId), rg, name);
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
