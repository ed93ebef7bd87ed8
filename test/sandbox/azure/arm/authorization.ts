// Microsoft.Authorization/roleAssignments and roleDefinitions at any scope.
import type { Reply } from '../http.ts';
import { BUILT_IN_ROLES } from '../roles.ts';
import type { BuiltInRole } from '../roles.ts';
import type { RoleAssignmentRecord } from '../world-api.ts';
import { lowerId } from '../world.ts';
import { ROLE_ASSIGNMENT_VERSIONS, ROLE_DEFINITION_VERSIONS, atLeast } from './api-versions.ts';
import { API_VERSIONS, armError, authorizeArm, checkApiVersion, isGuid } from './common.ts';
import type { ArmContext, ArmRoute } from './common.ts';

const RA_TYPE = 'Microsoft.Authorization/roleAssignments';
const RD_TYPE = 'Microsoft.Authorization/roleDefinitions';
const RE_RA = /^(.*)\/providers\/Microsoft\.Authorization\/roleAssignments(?:\/([^/]+))?$/i;
const RE_RD = /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions(?:\/([^/]+))?$/i;

/**
 * A role assignment as `apiVersion` shows it: 2015-07-01 has roleDefinitionId, principalId and
 * scope; principalType and canDelegate come with 2018-09-01-preview; description, condition,
 * createdOn/updatedOn/createdBy/updatedBy and delegatedManagedIdentityResourceId with 2020-04-01-preview.
 */
export function assignmentBody(a: RoleAssignmentRecord, createdBy?: string, apiVersion: string = ROLE_ASSIGNMENT_VERSIONS[1]): Record<string, unknown> {
  const properties: Record<string, unknown> = { roleDefinitionId: a.roleDefinitionId, principalId: a.principalId };
  if (atLeast(apiVersion, '2018-09-01')) properties.principalType = a.principalType;
  properties.scope = a.scope;
  if (atLeast(apiVersion, '2020-04-01')) {
    Object.assign(properties, {
      condition: null,
      conditionVersion: null,
      createdOn: a.createdOn,
      updatedOn: a.createdOn,
      createdBy: createdBy ?? null,
      updatedBy: createdBy ?? null,
      delegatedManagedIdentityResourceId: null,
      description: a.description ?? null,
    });
  }
  return { properties, id: a.id, type: RA_TYPE, name: a.name };
}

/**
 * A role definition as `apiVersion` shows it: dataActions/notDataActions from 2018-01-01-preview,
 * createdOn/updatedOn/createdBy/updatedBy from 2022-04-01 (2022-05-01-preview likewise).
 */
export function definitionBody(sub: string, r: BuiltInRole, apiVersion: string = ROLE_DEFINITION_VERSIONS[1]): Record<string, unknown> {
  const permission: Record<string, unknown> = { actions: r.actions, notActions: r.notActions };
  if (atLeast(apiVersion, '2018-01-01')) Object.assign(permission, { dataActions: r.dataActions, notDataActions: r.notDataActions });
  const properties: Record<string, unknown> = { roleName: r.roleName, type: 'BuiltInRole', description: r.description, assignableScopes: ['/'], permissions: [permission] };
  if (atLeast(apiVersion, '2022-04-01')) {
    Object.assign(properties, { createdOn: '2020-05-19T17:52:46.2349235Z', updatedOn: '2025-01-01T00:00:00.0000000Z', createdBy: null, updatedBy: null });
  }
  return { id: `/subscriptions/${sub}/providers/${RD_TYPE}/${r.name}`, name: r.name, type: RD_TYPE, properties };
}

/** Scope check: our subscription (and the vault, for vault scopes). */
function checkScope(ctx: ArmContext, scope: string): Reply | undefined {
  if (scope.includes('//') || !scope.startsWith('/')) {
    return armError(400, 'InvalidRequestUri', `The request URI is not valid: the scope '${scope}' contains an empty segment. Pass the scope without a leading '/'.`);
  }
  const m = /^\/subscriptions\/([^/]+)/i.exec(scope);
  if (!m) return armError(400, 'InvalidScope', `The scope '${scope}' is not supported by the sandbox (subscription scopes only).`);
  if (m[1]!.toLowerCase() !== ctx.world.subscriptionId) return armError(404, 'SubscriptionNotFound', `The subscription '${m[1]}' could not be found.`);
  const rg = /^\/subscriptions\/[^/]+\/resourceGroups\/([^/]+)/i.exec(scope);
  if (rg && !ctx.world.resourceGroups.has(rg[1]!.toLowerCase())) return armError(404, 'ResourceGroupNotFound', `Resource group '${rg[1]}' could not be found.`);
  const kv = /\/providers\/Microsoft\.KeyVault\/vaults\/([^/]+)/i.exec(scope);
  if (kv && !ctx.world.vault(kv[1]!)) {
    return armError(
      404,
      'ResourceNotFound',
      `The Resource 'Microsoft.KeyVault/vaults/${kv[1]}' under resource group '${rg?.[1] ?? ''}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
    );
  }
  return undefined;
}

function parseFilter(filter: string | null): { atScope: boolean; principalId?: string; assignedTo?: string; roleName?: string; type?: string } {
  const out: { atScope: boolean; principalId?: string; assignedTo?: string; roleName?: string; type?: string } = { atScope: false };
  if (!filter) return out;
  if (/atScope\(\)/i.test(filter)) out.atScope = true;
  const p = /principalId\s+eq\s+'([^']*)'/i.exec(filter);
  if (p) out.principalId = p[1];
  const a = /assignedTo\('([^']*)'\)/i.exec(filter);
  if (a) out.assignedTo = a[1];
  const r = /roleName\s+eq\s+'((?:[^']|'')*)'/i.exec(filter);
  if (r) out.roleName = r[1]!.replace(/''/g, "'");
  const t = /type\s+eq\s+'([^']*)'/i.exec(filter);
  if (t) out.type = t[1];
  return out;
}

function relation(assignmentScope: string, scope: string): 'at' | 'above' | 'below' | 'none' {
  const a = lowerId(assignmentScope);
  const s = lowerId(scope);
  if (a === s) return 'at';
  if (s.startsWith(a + '/')) return 'above';
  if (a.startsWith(s + '/')) return 'below';
  return 'none';
}

function roleAssignments(ctx: ArmContext, scope: string, name: string | undefined): Reply {
  const w = ctx.world;
  if (name === undefined) {
    if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
    const bad = authorizeArm(ctx, scope, `${RA_TYPE}/read`);
    if (bad) return bad;
    const f = parseFilter(ctx.query.get('$filter'));
    const value = w.assignments.filter((a) => {
      const rel = relation(a.scope, scope);
      if (rel === 'none') return false;
      if (f.atScope && rel === 'below') return false;
      const pid = f.principalId ?? f.assignedTo;
      if (pid && a.principalId.toLowerCase() !== pid.toLowerCase()) return false;
      return true;
    });
    return { status: 200, body: { value: value.map((a) => assignmentBody(a, undefined, ctx.query.get('api-version') ?? undefined)) } };
  }
  if (!isGuid(name)) return armError(400, 'InvalidRoleAssignmentId', `The role assignment ID '${name}' is not valid. The role assignment ID must be a GUID.`);
  const action = ctx.method === 'GET' ? 'read' : ctx.method === 'DELETE' ? 'delete' : 'write';
  const bad = authorizeArm(ctx, scope, `${RA_TYPE}/${action}`);
  if (bad) return bad;
  const existing = w.assignments.find((a) => a.name.toLowerCase() === name.toLowerCase());
  if (ctx.method === 'GET') {
    if (!existing || lowerId(existing.scope) !== lowerId(scope)) return armError(404, 'RoleAssignmentNotFound', `The role assignment '${name}' is not found.`);
    return { status: 200, body: assignmentBody(existing, undefined, ctx.query.get('api-version') ?? undefined) };
  }
  if (ctx.method === 'DELETE') {
    if (!existing || lowerId(existing.scope) !== lowerId(scope)) return { status: 204 };
    w.assignments = w.assignments.filter((a) => a !== existing);
    return { status: 200, body: assignmentBody(existing, undefined, ctx.query.get('api-version') ?? undefined) };
  }
  if (ctx.method !== 'PUT') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
  const props = ((ctx.body ?? {}) as { properties?: Record<string, unknown> }).properties ?? {};
  const roleDefinitionId = typeof props.roleDefinitionId === 'string' ? props.roleDefinitionId : '';
  const principalId = typeof props.principalId === 'string' ? props.principalId : '';
  const principalType = typeof props.principalType === 'string' ? props.principalType : undefined;
  const description = typeof props.description === 'string' ? props.description : undefined;
  if (!roleDefinitionId || !principalId) return armError(400, 'InvalidRoleAssignmentRequest', "The role assignment request must contain 'roleDefinitionId' and 'principalId'.");
  if (!isGuid(principalId)) return armError(400, 'InvalidPrincipalId', `A valid principal ID must be provided for role assignment. The principal ID '${principalId}' is not valid.`);
  const roleGuid = roleDefinitionId.split('/').pop() ?? '';
  const role = BUILT_IN_ROLES.find((r) => r.name.toLowerCase() === roleGuid.toLowerCase());
  if (!role) return armError(400, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${roleGuid}' does not exist.`);
  const canonicalRoleId = `/subscriptions/${w.subscriptionId}/providers/${RD_TYPE}/${role.name}`;
  if (existing) {
    const same =
      lowerId(existing.scope) === lowerId(scope) && existing.principalId.toLowerCase() === principalId.toLowerCase() && existing.roleDefinitionId.split('/').pop()!.toLowerCase() === role.name;
    if (!same) return armError(400, 'RoleAssignmentUpdateNotPermitted', 'Tenant ID, application ID, principal ID, and scope are not allowed to be updated.');
    if (description !== undefined) existing.description = description;
    return { status: 200, body: assignmentBody(existing, ctx.caller.oid, ctx.query.get('api-version') ?? undefined) };
  }
  const dup = w.assignments.find(
    (a) => lowerId(a.scope) === lowerId(scope) && a.principalId.toLowerCase() === principalId.toLowerCase() && a.roleDefinitionId.split('/').pop()!.toLowerCase() === role.name,
  );
  if (dup) return armError(409, 'RoleAssignmentExists', 'The role assignment already exists.');
  const principal = w.principalByObjectId(principalId);
  if (!principalType && (!principal || principal.visibleAt > Date.now())) {
    return armError(
      400,
      'PrincipalNotFound',
      `Principal ${principalId.replace(/-/g, '')} does not exist in the directory ${w.tenantId}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype`,
    );
  }
  const rec = w.makeAssignment(scope, role.name, principalId, principalType ?? 'ServicePrincipal', Date.now() + w.config.rbacPropagationMs, name.toLowerCase(), description);
  rec.roleDefinitionId = canonicalRoleId;
  w.assignments.push(rec);
  return { status: 201, body: assignmentBody(rec, ctx.caller.oid, ctx.query.get('api-version') ?? undefined) };
}

function roleDefinitions(ctx: ArmContext, scope: string, id: string | undefined): Reply {
  const sub = ctx.world.subscriptionId;
  if (ctx.method !== 'GET') return armError(403, 'AuthorizationFailed', 'Custom role definitions are not supported by the sandbox.');
  if (id !== undefined) {
    const r = BUILT_IN_ROLES.find((x) => x.name.toLowerCase() === id.toLowerCase());
    if (!r) return armError(404, 'RoleDefinitionDoesNotExist', `The specified role definition with ID '${id}' does not exist.`);
    return { status: 200, body: definitionBody(sub, r, ctx.query.get('api-version') ?? undefined) };
  }
  const f = parseFilter(ctx.query.get('$filter'));
  const value = BUILT_IN_ROLES.filter((r) => (f.roleName === undefined || r.roleName === f.roleName) && (f.type === undefined || f.type === 'BuiltInRole'));
  void scope;
  return { status: 200, body: { value: value.map((r) => definitionBody(sub, r, ctx.query.get('api-version') ?? undefined)) } };
}

export const authorizationRoute: ArmRoute = (ctx) => {
  const ra = RE_RA.exec(ctx.path);
  const rd = ra ? null : RE_RD.exec(ctx.path);
  if (!ra && !rd) return undefined;
  const m = (ra ?? rd)!;
  const scope = m[1] || '/';
  // Role assignments and definitions have no location: ARM names 'global'.
  const bad = checkApiVersion(ctx, ra ? API_VERSIONS.roleAssignments : API_VERSIONS.roleDefinitions, ra ? 'roleAssignments' : 'roleDefinitions', 'global') ?? checkScope(ctx, scope);
  if (bad) return bad;
  return ra ? roleAssignments(ctx, scope, m[2]) : roleDefinitions(ctx, scope, m[2]);
};
