// Microsoft.KeyVault/vaults: get, list, create-or-update (PUT), update (PATCH), access-policy
// updates (add | replace | remove); Microsoft.KeyVault/managedHSMs lists (the sandbox has none).
import type { Reply } from '../http.ts';
import type { AccessPolicyEntry, VaultRecord } from '../world-api.ts';
import { API_VERSIONS, armError, authorizeArm, checkApiVersion } from './common.ts';
import type { ArmContext, ArmRoute } from './common.ts';

const VAULT_TYPE = 'Microsoft.KeyVault/vaults';
const RE_LIST_SUB = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults$/i;
const RE_LIST_RG = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults$/i;
const RE_VAULT = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)$/i;
const RE_HSM_LIST = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?\/providers\/Microsoft\.KeyVault\/managedHSMs$/i;
const RE_POLICY = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)\/accessPolicies\/([^/]+)$/i;
const PERMISSION_KINDS = ['keys', 'secrets', 'certificates', 'storage'] as const;

export function vaultBody(v: VaultRecord): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    sku: { family: 'A', name: 'standard' },
    tenantId: v.tenantId,
    accessPolicies: v.accessPolicies.map(policyBody),
    enabledForDeployment: false,
    enabledForDiskEncryption: false,
    enabledForTemplateDeployment: false,
    enableSoftDelete: v.enableSoftDelete,
    softDeleteRetentionInDays: v.softDeleteRetentionInDays,
    enableRbacAuthorization: v.enableRbacAuthorization,
    vaultUri: v.vaultUri,
    provisioningState: 'Succeeded',
    publicNetworkAccess: 'Enabled',
  };
  if (v.enablePurgeProtection) properties.enablePurgeProtection = true;
  return {
    id: v.id,
    name: v.name,
    type: VAULT_TYPE,
    location: v.location,
    tags: v.tags ?? {},
    systemData: {
      createdBy: 'sandbox',
      createdByType: 'Application',
      createdAt: '2026-01-01T00:00:00.0000000Z',
      lastModifiedBy: 'sandbox',
      lastModifiedByType: 'Application',
      lastModifiedAt: '2026-01-01T00:00:00.0000000Z',
    },
    properties,
  };
}

function policyBody(p: AccessPolicyEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { tenantId: p.tenantId, objectId: p.objectId, permissions: { ...p.permissions } };
  if (p.applicationId) out.applicationId = p.applicationId;
  return out;
}

function parsePolicies(body: unknown): AccessPolicyEntry[] | Reply {
  const list = ((body ?? {}) as { properties?: { accessPolicies?: unknown } }).properties?.accessPolicies;
  if (!Array.isArray(list)) return armError(400, 'BadRequest', 'The parameter properties.accessPolicies is required.');
  const out: AccessPolicyEntry[] = [];
  for (const raw of list as Array<Record<string, unknown>>) {
    if (typeof raw?.tenantId !== 'string' || typeof raw.objectId !== 'string' || !raw.permissions || typeof raw.permissions !== 'object') {
      return armError(400, 'BadRequest', 'Each access policy must have tenantId, objectId and permissions.');
    }
    const perms = raw.permissions as Record<string, unknown>;
    const permissions: AccessPolicyEntry['permissions'] = {};
    for (const k of PERMISSION_KINDS) if (Array.isArray(perms[k])) permissions[k] = (perms[k] as unknown[]).map(String);
    out.push({ tenantId: raw.tenantId, objectId: raw.objectId, applicationId: typeof raw.applicationId === 'string' ? raw.applicationId : undefined, permissions });
  }
  return out;
}

function samePrincipal(a: AccessPolicyEntry, b: AccessPolicyEntry): boolean {
  return a.tenantId.toLowerCase() === b.tenantId.toLowerCase() && a.objectId.toLowerCase() === b.objectId.toLowerCase() && (a.applicationId ?? '') === (b.applicationId ?? '');
}

function updatePolicies(v: VaultRecord, kind: string, policies: AccessPolicyEntry[]): void {
  for (const p of policies) {
    const idx = v.accessPolicies.findIndex((e) => samePrincipal(e, p));
    const cur = idx >= 0 ? v.accessPolicies[idx]! : undefined;
    if (kind === 'replace' || (kind === 'add' && !cur)) {
      if (cur) v.accessPolicies[idx] = { ...cur, permissions: { ...p.permissions } };
      else v.accessPolicies.push({ ...p, permissions: { ...p.permissions } });
    } else if (kind === 'add' && cur) {
      for (const k of PERMISSION_KINDS) {
        const add = p.permissions[k];
        if (!add) continue;
        const merged = new Set([...(cur.permissions[k] ?? []), ...add].map((x) => x.toLowerCase()));
        cur.permissions[k] = [...merged];
      }
    } else if (kind === 'remove' && cur) {
      for (const k of PERMISSION_KINDS) {
        const del = (p.permissions[k] ?? []).map((x) => x.toLowerCase());
        if (del.length) cur.permissions[k] = (cur.permissions[k] ?? []).filter((x) => !del.includes(x.toLowerCase()));
      }
      if (PERMISSION_KINDS.every((k) => (cur.permissions[k] ?? []).length === 0)) v.accessPolicies.splice(idx, 1);
    }
  }
}

function vaultNotFound(rg: string, name: string): Reply {
  return armError(404, 'ResourceNotFound', `The Resource '${VAULT_TYPE}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
}

function scopeError(ctx: ArmContext, sub: string, rg?: string): Reply | undefined {
  if (sub.toLowerCase() !== ctx.world.subscriptionId) return armError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
  if (rg !== undefined && !ctx.world.resourceGroups.has(rg.toLowerCase())) return armError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
  return undefined;
}

interface VaultProps {
  tenantId?: unknown;
  sku?: unknown;
  accessPolicies?: unknown;
  enableRbacAuthorization?: unknown;
  enableSoftDelete?: unknown;
  softDeleteRetentionInDays?: unknown;
  enablePurgeProtection?: unknown;
}

/** Applies the writable vault properties of a PUT/PATCH body; a Reply when one is refused. */
function applyVaultProps(v: VaultRecord, props: VaultProps, creating: boolean): Reply | undefined {
  if (props.accessPolicies !== undefined) {
    const policies = parsePolicies({ properties: { accessPolicies: props.accessPolicies } });
    if (!Array.isArray(policies)) return policies;
    v.accessPolicies = policies;
  }
  if (typeof props.enableRbacAuthorization === 'boolean') v.enableRbacAuthorization = props.enableRbacAuthorization;
  if (props.enableSoftDelete === false && (creating || v.enableSoftDelete)) {
    return armError(400, 'BadRequest', 'The property "enableSoftDelete" cannot be set to false. Enabling the soft delete protection for this vault is required.');
  }
  if (props.softDeleteRetentionInDays !== undefined) {
    const days = props.softDeleteRetentionInDays;
    if (typeof days !== 'number' || !Number.isInteger(days) || days < 7 || days > 90) {
      return armError(400, 'BadRequest', `The value of the property "softDeleteRetentionInDays" must be between 7 and 90 (inclusive).`);
    }
    if (!creating && days !== v.softDeleteRetentionInDays) {
      return armError(400, 'BadRequest', 'The property "softDeleteRetentionInDays" cannot be changed after the vault is created.');
    }
    v.softDeleteRetentionInDays = days;
  }
  if (props.enablePurgeProtection === false && v.enablePurgeProtection) {
    return armError(400, 'BadRequest', 'The property "enablePurgeProtection" cannot be set to false. Once purge protection is enabled for a vault, it cannot be disabled.');
  }
  if (props.enablePurgeProtection === true) v.enablePurgeProtection = true;
  return undefined;
}

/** Vaults_CreateOrUpdate: 200 with the whole vault (new vaults open their proxy on the next sync). */
function putVault(ctx: ArmContext, rg: string, name: string, existing: VaultRecord | undefined): Reply {
  const w = ctx.world;
  const body = (ctx.body ?? {}) as { location?: unknown; tags?: unknown; properties?: VaultProps };
  if (typeof body.location !== 'string' || !body.location) return armError(400, 'LocationRequired', 'The location property is required for this definition.');
  const props = body.properties;
  if (!props || typeof props.tenantId !== 'string' || !props.sku || typeof props.sku !== 'object') {
    return armError(400, 'BadRequest', 'The parameters properties.tenantId and properties.sku are required.');
  }
  if (props.tenantId.toLowerCase() !== w.tenantId) return armError(400, 'BadRequest', `The tenant '${props.tenantId}' is not the tenant of the subscription.`);
  if (existing && existing.resourceGroup.toLowerCase() !== rg.toLowerCase()) {
    return armError(409, 'VaultAlreadyExists', `The vault name '${name}' is already in use. Vault names are globally unique so it is possible that the name is already taken.`);
  }
  if (!existing && !/^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$/.test(name)) {
    return armError(
      400,
      'VaultNameNotValid',
      `The vault name '${name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens.`,
    );
  }
  const creating = !existing;
  const v = existing ?? w.addVault({ name, resourceGroup: rg, location: body.location.toLowerCase().replace(/\s+/g, ''), enableRbacAuthorization: false, accessPolicies: [] });
  const snapshot = structuredClone(v);
  const refused = applyVaultProps(v, props, creating);
  if (refused) {
    if (creating) w.removeVault(name);
    else Object.assign(v, snapshot);
    return refused;
  }
  if (body.tags && typeof body.tags === 'object') v.tags = body.tags as Record<string, string>;
  return { status: creating ? 201 : 200, body: vaultBody(v) };
}

/** Vaults_Update: only the given properties change. */
function patchVault(ctx: ArmContext, v: VaultRecord): Reply {
  const body = (ctx.body ?? {}) as { tags?: unknown; properties?: VaultProps };
  const snapshot = structuredClone(v);
  const refused = applyVaultProps(v, body.properties ?? {}, false);
  if (refused) {
    Object.assign(v, snapshot);
    return refused;
  }
  if (body.tags && typeof body.tags === 'object') v.tags = body.tags as Record<string, string>;
  return { status: 200, body: vaultBody(v) };
}

export const keyVaultRoute: ArmRoute = (ctx) => {
  const w = ctx.world;
  const version = (location?: string): Reply | undefined => checkApiVersion(ctx, API_VERSIONS.keyvault, 'vaults', location);
  let m: RegExpExecArray | null;
  if ((m = RE_LIST_SUB.exec(ctx.path)) || (m = RE_LIST_RG.exec(ctx.path))) {
    const sub = m[1]!;
    const rg = m[2];
    if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
    const scope = rg ? `/subscriptions/${sub}/resourceGroups/${rg}` : `/subscriptions/${sub}`;
    const bad = version() ?? scopeError(ctx, sub, rg) ?? authorizeArm(ctx, scope, `${VAULT_TYPE}/read`);
    if (bad) return bad;
    const value = w.vaults().filter((v) => !rg || v.resourceGroup.toLowerCase() === rg.toLowerCase());
    return { status: 200, body: { value: value.map(vaultBody) } };
  }
  if ((m = RE_VAULT.exec(ctx.path))) {
    const [, sub, rg, name] = m as unknown as [string, string, string, string];
    const bad =
      version(w.vault(name)?.location) ??
      scopeError(ctx, sub, rg) ??
      authorizeArm(ctx, `/subscriptions/${sub}/resourceGroups/${rg}/providers/${VAULT_TYPE}/${name}`, `${VAULT_TYPE}/${ctx.method === 'GET' ? 'read' : 'write'}`);
    if (bad) return bad;
    const v = w.vault(name);
    if (ctx.method === 'PUT') return putVault(ctx, rg, name, v);
    if (!v || v.resourceGroup.toLowerCase() !== rg.toLowerCase()) return vaultNotFound(rg, name);
    if (ctx.method === 'GET') return { status: 200, body: vaultBody(v) };
    if (ctx.method === 'PATCH') return patchVault(ctx, v);
    return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
  }
  if ((m = RE_HSM_LIST.exec(ctx.path))) {
    const [, sub, rg] = m as unknown as [string, string, string | undefined];
    if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
    const scope = rg ? `/subscriptions/${sub}/resourceGroups/${rg}` : `/subscriptions/${sub}`;
    const bad = checkApiVersion(ctx, API_VERSIONS.keyvault, 'managedHSMs') ?? scopeError(ctx, sub, rg) ?? authorizeArm(ctx, scope, 'Microsoft.KeyVault/managedHSMs/read');
    return bad ?? { status: 200, body: { value: [] } };
  }
  if ((m = RE_POLICY.exec(ctx.path))) {
    const [, sub, rg, name, kind] = m as unknown as [string, string, string, string, string];
    const bad =
      version(w.vault(name)?.location) ??
      scopeError(ctx, sub, rg) ??
      authorizeArm(ctx, `/subscriptions/${sub}/resourceGroups/${rg}/providers/${VAULT_TYPE}/${name}`, `${VAULT_TYPE}/accessPolicies/write`);
    if (bad) return bad;
    if (ctx.method !== 'PUT') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
    const op = kind.toLowerCase();
    if (!['add', 'replace', 'remove'].includes(op)) {
      return armError(400, 'BadRequest', `The value '${kind}' is not valid for operationKind. Valid values are 'add', 'replace' and 'remove'.`);
    }
    const v = w.vault(name);
    if (!v || v.resourceGroup.toLowerCase() !== rg.toLowerCase()) return vaultNotFound(rg, name);
    const policies = parsePolicies(ctx.body);
    if (!Array.isArray(policies)) return policies;
    updatePolicies(v, op, policies);
    return {
      status: 200,
      body: { id: `${v.id}/accessPolicies/`, type: `${VAULT_TYPE}/accessPolicies`, properties: { accessPolicies: policies.map(policyBody) } },
    };
  }
  return undefined;
};
