// The audit's reads (never a write, never a secret value) through the clients the other steps use:
// ARM (identities, credentials, role assignments and definitions through clean-up's reader), the
// manifest's ledger (its LedgerBook) and the cluster (rendered objects, workloads and their mounts).
import type { AzureSession } from '../auth/login.ts';
import { authorizationClient, msiClient, scopeParam } from '../auth/arm.ts';
import { azureStatusOf as azureStatus } from '../auth/http.ts';
import { readIdentities } from '../cleanup/index.ts';
import type { IdentityFound } from '../cleanup/plan.ts';
import type { KubeSession } from '../kube/client.ts';
import { kubeStatusOf as kubeStatus } from '../kube/client.ts';
import type { GrantLedger } from '../ledger/model.ts';
import type { Manifest } from '../manifest/types.ts';
import { renderAll } from '../render/index.ts';
import type { RenderFacts } from '../render/index.ts';
import { consumersIn, observe, readNamespaces } from '../rotate/index.ts';
import type { VaultInfo } from '../keyvault/model.ts';
import { declaredRecords, objectKeyOf } from './evaluate.ts';
import type { AzureFacts, KubeFacts, RoleFacts, RoleRights } from './evaluate.ts';

const lower = (s: string): string => s.toLowerCase();
const guidOf = (id: string): string => lower(id.split('/').pop() ?? id);

/** The roles the manifest names (by name) and every role its identities hold (by GUID), with their permissions. */
async function readRoles(session: AzureSession, vault: VaultInfo, manifest: Manifest, identities: IdentityFound[]): Promise<RoleFacts> {
  const roles: RoleFacts = { byGuid: new Map(), idByName: new Map() };
  if (!vault.rbac) return roles;
  const auth = await authorizationClient(session, vault.subscriptionId ?? session.subscriptionId);
  const keep = (d: { id?: string; roleName?: string; permissions?: RoleRights[] }): void => {
    if (d.id && d.roleName) roles.byGuid.set(guidOf(d.id), { name: d.roleName, permissions: d.permissions ?? [] });
  };
  for (const role of new Set(manifest.targets.map((t) => t.access.role))) {
    for await (const d of auth.roleDefinitions.list(scopeParam(vault.id), { filter: `roleName eq '${role.replace(/'/g, "''")}'` })) {
      keep(d);
      if (d.id && lower(d.roleName ?? '') === lower(role)) roles.idByName.set(lower(role), d.id);
    }
  }
  const held = new Set(identities.flatMap((i) => i.roleAssignments.map((a) => guidOf(a.roleDefinitionId))));
  for (const guid of [...held].filter((g) => !roles.byGuid.has(g))) keep(await auth.roleDefinitions.get(scopeParam(vault.id), guid));
  return roles;
}

/** `/subscriptions/S/resourcegroups/R/providers/microsoft.managedidentity/userassignedidentities/N[/federatedidentitycredentials/C]`. */
const RECORD = /^\/subscriptions\/([^/]+)\/resourcegroups\/([^/]+)\/providers\/microsoft\.managedidentity\/userassignedidentities\/([^/]+)(?:\/federatedidentitycredentials\/([^/]+))?$/;

/** Whether an identity or credential the ledger records still exists (a GET; 404: no). */
async function recordExists(session: AzureSession, record: string): Promise<boolean> {
  const m = RECORD.exec(record);
  if (!m) return false;
  const [, sub, rg, name, credential] = m as unknown as [string, string, string, string, string | undefined];
  const msi = await msiClient(session, sub);
  try {
    if (credential) await msi.federatedIdentityCredentials.get(rg, name, credential);
    else await msi.userAssignedIdentities.get(rg, name);
    return true;
  } catch (e) {
    if (azureStatus(e) === 404) return false;
    throw e;
  }
}

/** Identities, credentials, grants, roles, and the ledger's records that outlived the manifest. */
export async function readAzureFacts(session: AzureSession, vault: VaultInfo, manifest: Manifest, issuer: string | undefined, ledger: GrantLedger | undefined): Promise<AzureFacts> {
  const { identities } = await readIdentities(session, vault, manifest);
  const roles = await readRoles(session, vault, manifest, identities);
  const declared = declaredRecords(manifest, identities, issuer ?? '');
  const undeclared = [...(ledger?.identities ?? []), ...(ledger?.credentials ?? [])].filter((r) => !declared.has(r));
  const stillExisting = new Set<string>();
  for (const r of undeclared) if (await recordExists(session, r)) stillExisting.add(r);
  const vaultFacts = { id: vault.id, name: vault.name, rbac: vault.rbac, tenantId: vault.tenantId || session.tenantId, accessPolicies: vault.accessPolicies };
  return { vault: vaultFacts, subscriptionId: session.subscriptionId, issuer, identities, roles, ledger, stillExisting };
}

/** Client ids of the identities found, by namespace (what apply would render with). */
export function clientIdsOf(identities: readonly IdentityFound[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const g of identities) if (g.clientId) for (const t of g.targets) out[t.namespace] = g.clientId;
  return out;
}

async function readLive(kube: KubeSession, o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): Promise<Record<string, unknown> | undefined> {
  try {
    return (await kube.objects.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } })) as unknown as Record<string, unknown>;
  } catch (err) {
    if (kubeStatus(err) === 404) return undefined;
    throw err;
  }
}

/** The rendered ServiceAccounts and SecretProviderClasses as the cluster holds them, and the consuming workloads' pods. */
export async function readKubeFacts(kube: KubeSession, manifest: Manifest, render: RenderFacts): Promise<KubeFacts> {
  const desired = renderAll(manifest, render).filter((o) => o.kind !== 'Namespace');
  const live = new Map<string, Record<string, unknown>>();
  for (const o of desired) {
    const found = await readLive(kube, o);
    if (found) live.set(objectKeyOf(o), found);
  }
  // One listing of each kind for all the namespaces (cluster-wide when allowed), as the gate reads.
  const snaps = await readNamespaces(kube, [...new Set(manifest.targets.map((t) => t.namespace))]);
  const workloads = snaps.flatMap((snap) => consumersIn(snap, manifest).map((wc) => observe(wc, snap)));
  return { desired, live, workloads };
}
