// Microsoft.ManagedIdentity/userAssignedIdentities and their federatedIdentityCredentials.
import { randomUUID } from 'node:crypto';
import { sleep } from '../http.ts';
import type { Reply } from '../http.ts';
import { lowerId } from '../world.ts';
import type { FicEntry, IdentityRecord, World } from '../world.ts';
import { MSI_IDENTITY_VERSIONS, atLeast } from './api-versions.ts';
import { API_VERSIONS, armError, authorizeArm, checkApiVersion } from './common.ts';
import type { ArmContext, ArmRoute } from './common.ts';

const IDENTITY_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities';
const FIC_TYPE = 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials';
export const MAX_FICS_PER_IDENTITY = 20;
const MAX_FIC_FIELD = 600;

const RE_LIST_SUB = /^\/subscriptions\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities$/i;
const RE_LIST_RG = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities$/i;
const RE_IDENTITY = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)$/i;
const RE_FICS = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)\/federatedIdentityCredentials$/i;
const RE_FIC = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/([^/]+)\/federatedIdentityCredentials\/([^/]+)$/i;

export function identityId(sub: string, rg: string, name: string): string {
  // The MSI resource provider answers with a lower-case `resourcegroups` segment.
  return `/subscriptions/${sub}/resourcegroups/${rg}/providers/${IDENTITY_TYPE}/${name}`;
}

function notFound(rg: string, name: string): Reply {
  return armError(404, 'ResourceNotFound', `The Resource '${IDENTITY_TYPE}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`);
}

function checkScope(ctx: ArmContext, sub: string, rg?: string): Reply | undefined {
  if (sub.toLowerCase() !== ctx.world.subscriptionId) return armError(404, 'SubscriptionNotFound', `The subscription '${sub}' could not be found.`);
  if (rg !== undefined && !ctx.world.resourceGroups.has(rg.toLowerCase())) return armError(404, 'ResourceGroupNotFound', `Resource group '${rg}' could not be found.`);
  return undefined;
}

/** The identity as `apiVersion` shows it: isolationScope exists from 2023-07-31-preview on (not in 2023-01-31). */
export function identityBody(i: IdentityRecord, apiVersion: string = MSI_IDENTITY_VERSIONS[0]): Record<string, unknown> {
  const properties: Record<string, unknown> = { tenantId: i.tenantId, principalId: i.principalId, clientId: i.clientId };
  if (atLeast(apiVersion, '2023-07-31')) properties.isolationScope = 'None';
  return { id: i.id, name: i.name, type: IDENTITY_TYPE, location: i.location, tags: i.tags, properties };
}

export function ficBody(f: FicEntry): Record<string, unknown> {
  return {
    id: `${f.identityId}/federatedIdentityCredentials/${f.name}`,
    name: f.name,
    type: FIC_TYPE,
    properties: { issuer: f.issuer, subject: f.subject, audiences: [...f.audiences] },
  };
}

function findIdentity(w: World, sub: string, rg: string, name: string): IdentityRecord | undefined {
  return w.identities.get(lowerId(identityId(sub, rg, name)));
}

function putIdentity(ctx: ArmContext, sub: string, rg: string, name: string): Reply {
  const w = ctx.world;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/.test(name)) {
    return armError(
      400,
      'InvalidResourceName',
      `Resource name ${name} is invalid. The name can be between 3 and 128 characters long and may contain only alphanumeric characters, hyphens and underscores, starting with a letter or number.`,
    );
  }
  const body = (ctx.body ?? {}) as { location?: unknown; tags?: unknown };
  if (typeof body.location !== 'string' || !body.location) return armError(400, 'LocationRequired', 'The location property is required for this definition.');
  const tags = body.tags && typeof body.tags === 'object' ? (body.tags as Record<string, string>) : {};
  const existing = findIdentity(w, sub, rg, name);
  const location = body.location.toLowerCase().replace(/\s+/g, '');
  if (existing && existing.location !== location) {
    return armError(
      400,
      'InvalidResourceLocation',
      `The resource '${name}' already exists in location '${existing.location}' in resource group '${rg}'. A resource with the same name cannot be created in location '${location}'. Please select a new resource name.`,
    );
  }
  if (existing) {
    existing.tags = tags;
    return { status: 200, body: identityBody(existing, ctx.query.get('api-version') ?? undefined) };
  }
  const rec: IdentityRecord = {
    id: identityId(sub, rg, name),
    name,
    subscriptionId: sub,
    resourceGroup: rg,
    location,
    tags,
    clientId: randomUUID(),
    principalId: randomUUID(),
    tenantId: w.tenantId,
    createdAt: Date.now(),
  };
  w.identities.set(lowerId(rec.id), rec);
  w.principalMap.set(rec.clientId, { clientId: rec.clientId, objectId: rec.principalId, displayName: name, kind: 'managedIdentity', visibleAt: Date.now() + w.config.principalVisibilityMs });
  return { status: 201, body: identityBody(rec, ctx.query.get('api-version') ?? undefined) };
}

function deleteIdentity(ctx: ArmContext, sub: string, rg: string, name: string): Reply {
  const w = ctx.world;
  const rec = findIdentity(w, sub, rg, name);
  if (!rec) return { status: 204 };
  w.identities.delete(lowerId(rec.id));
  w.principalMap.delete(rec.clientId);
  w.fics = w.fics.filter((f) => f.clientId !== rec.clientId);
  return { status: 200 };
}

function validateFic(body: unknown): { issuer: string; subject: string; audiences: string[] } | Reply {
  const props = ((body ?? {}) as { properties?: Record<string, unknown> }).properties ?? {};
  const { issuer, subject, audiences } = props as { issuer?: unknown; subject?: unknown; audiences?: unknown };
  if (typeof issuer !== 'string' || !issuer || typeof subject !== 'string' || !subject || !Array.isArray(audiences) || audiences.length === 0) {
    return armError(400, 'BadRequest', "The request format was unexpected. Federated Identity Credential must specify 'issuer', 'subject' and 'audience'.");
  }
  if (audiences.length !== 1 || typeof audiences[0] !== 'string' || !audiences[0]) {
    return armError(400, 'BadRequest', 'The request format was unexpected. Federated Identity Credential must specify exactly one audience.');
  }
  if (issuer.length > MAX_FIC_FIELD) return armError(400, 'BadRequest', `Federated Identity Credential issuer exceeds the maximum length of ${MAX_FIC_FIELD} characters.`);
  if (subject.length > MAX_FIC_FIELD) return armError(400, 'BadRequest', `Federated Identity Credential subject exceeds the maximum length of ${MAX_FIC_FIELD} characters.`);
  let url: URL | undefined;
  try {
    url = new URL(issuer);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'https:') return armError(400, 'BadRequest', `Federated Identity Credential issuer '${issuer}' must be a valid https URL.`);
  return { issuer, subject, audiences: [audiences[0]] };
}

/** Marks the identity busy for the configured time; refuses a concurrent write with 409. */
async function withFicWriteLock(ctx: ArmContext, rec: IdentityRecord, write: () => Reply): Promise<Reply> {
  const w = ctx.world;
  const key = lowerId(rec.id);
  const now = Date.now();
  if ((w.ficBusyUntil.get(key) ?? 0) > now) {
    return armError(
      409,
      'ConcurrentFederatedIdentityCredentialsWritesForSingleManagedIdentity',
      `Too many Federated Identity Credentials are written concurrently for the managed identity '${rec.id}'. Concurrent Federated Identity Credentials writes under the same managed identity are not supported.`,
    );
  }
  const hold = w.config.ficWriteInProgressMs;
  w.ficBusyUntil.set(key, now + hold + 1000); // released below; the margin covers a slow event loop
  try {
    if (hold > 0) await sleep(hold);
    return write();
  } finally {
    w.ficBusyUntil.delete(key);
  }
}

function putFic(ctx: ArmContext, rec: IdentityRecord, name: string): Promise<Reply> | Reply {
  const w = ctx.world;
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$/.test(name)) {
    return armError(
      400,
      'BadRequest',
      `Federated Identity Credential name '${name}' is invalid. It must be 3 to 120 characters long, start with a letter or number and contain only letters, numbers, hyphens and underscores.`,
    );
  }
  const v = validateFic(ctx.body);
  if ('status' in v) return v;
  return withFicWriteLock(ctx, rec, () => {
    const mine = w.fics.filter((f) => f.identityId === rec.id);
    const existing = mine.find((f) => f.name.toLowerCase() === name.toLowerCase());
    const dup = mine.find((f) => f !== existing && f.issuer === v.issuer && f.subject === v.subject);
    if (dup) return armError(400, 'BadRequest', 'Issuer and subject combination already exists for this Managed Identity.');
    if (!existing && mine.length >= MAX_FICS_PER_IDENTITY) {
      return armError(400, 'BadRequest', `Too many Federated Identity Credentials. The maximum number of Federated Identity Credentials per managed identity is ${MAX_FICS_PER_IDENTITY}.`);
    }
    const effectiveAt = Date.now() + w.config.ficPropagationMs;
    if (existing) {
      const changed = existing.issuer !== v.issuer || existing.subject !== v.subject || existing.audiences[0] !== v.audiences[0];
      Object.assign(existing, v);
      if (changed) existing.effectiveAt = effectiveAt;
      return { status: 200, body: ficBody(existing) };
    }
    const f: FicEntry = { clientId: rec.clientId, identityId: rec.id, name, ...v, effectiveAt, createdAt: Date.now() };
    w.fics.push(f);
    return { status: 201, body: ficBody(f) };
  });
}

/** FIC list: `$top` (1..1000 in the spec) is validated here and pages the answer in Arm.page. */
function ficList(ctx: ArmContext, all: FicEntry[]): Reply {
  const rawTop = ctx.query.get('$top');
  if (rawTop !== null) {
    const top = Number(rawTop);
    if (!Number.isInteger(top) || top < 1 || top > 1000) return armError(400, 'BadRequest', `The value '${rawTop}' of query parameter '$top' is invalid. It must be an integer between 1 and 1000.`);
  }
  return { status: 200, body: { value: all.map(ficBody) } };
}

export const msiRoute: ArmRoute = (ctx) => {
  const w = ctx.world;
  let m: RegExpExecArray | null;
  const apiVersion = ctx.query.get('api-version') ?? '';
  const version = (location?: string): Reply | undefined => checkApiVersion(ctx, API_VERSIONS.msi, 'userAssignedIdentities', location);
  const ficVersion = (location?: string): Reply | undefined => checkApiVersion(ctx, API_VERSIONS.fic, 'userAssignedIdentities/federatedIdentityCredentials', location);
  const show = (i: IdentityRecord): Record<string, unknown> => identityBody(i, apiVersion);
  if ((m = RE_LIST_SUB.exec(ctx.path))) {
    if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
    const [, sub] = m as unknown as [string, string];
    const bad = version() ?? checkScope(ctx, sub) ?? authorizeArm(ctx, `/subscriptions/${sub}`, `${IDENTITY_TYPE}/read`);
    if (bad) return bad;
    return { status: 200, body: { value: [...w.identities.values()].map(show) } };
  }
  if ((m = RE_LIST_RG.exec(ctx.path))) {
    if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
    const [, sub, rg] = m as unknown as [string, string, string];
    const bad = version() ?? checkScope(ctx, sub, rg) ?? authorizeArm(ctx, `/subscriptions/${sub}/resourceGroups/${rg}`, `${IDENTITY_TYPE}/read`);
    if (bad) return bad;
    return { status: 200, body: { value: [...w.identities.values()].filter((i) => i.resourceGroup.toLowerCase() === rg.toLowerCase()).map(show) } };
  }
  if ((m = RE_IDENTITY.exec(ctx.path))) {
    const [, sub, rg, name] = m as unknown as [string, string, string, string];
    const scope = `/subscriptions/${sub}/resourceGroups/${rg}/providers/${IDENTITY_TYPE}/${name}`;
    const action = ctx.method === 'GET' ? 'read' : ctx.method === 'DELETE' ? 'delete' : 'write';
    const bad = version(findIdentity(w, sub, rg, name)?.location) ?? checkScope(ctx, sub, rg) ?? authorizeArm(ctx, scope, `${IDENTITY_TYPE}/${action}`);
    if (bad) return bad;
    if (ctx.method === 'PUT') return putIdentity(ctx, sub, rg, name);
    if (ctx.method === 'DELETE') return deleteIdentity(ctx, sub, rg, name);
    const rec = findIdentity(w, sub, rg, name);
    if (!rec) return notFound(rg, name);
    if (ctx.method === 'GET') return { status: 200, body: show(rec) };
    if (ctx.method === 'PATCH') {
      const tags = ((ctx.body ?? {}) as { tags?: Record<string, string> }).tags;
      if (tags) rec.tags = tags;
      return { status: 200, body: show(rec) };
    }
    return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
  }
  const fics = RE_FICS.exec(ctx.path);
  const fic = fics ? null : RE_FIC.exec(ctx.path);
  if (fics || fic) {
    const [, sub, rg, name, ficName] = (fics ?? fic) as unknown as [string, string, string, string, string | undefined];
    const action = ctx.method === 'GET' ? 'read' : ctx.method === 'DELETE' ? 'delete' : 'write';
    const scope = `/subscriptions/${sub}/resourceGroups/${rg}/providers/${IDENTITY_TYPE}/${name}`;
    const bad = ficVersion(findIdentity(w, sub, rg, name)?.location) ?? checkScope(ctx, sub, rg) ?? authorizeArm(ctx, scope, `${FIC_TYPE}/${action}`);
    if (bad) return bad;
    const rec = findIdentity(w, sub, rg, name);
    if (!rec) {
      if (ctx.method === 'GET' && fics) return notFound(rg, name);
      return armError(
        404,
        'ParentResourceNotFound',
        `Failed to perform '${action}' on resource(s) of type 'userAssignedIdentities/federatedIdentityCredentials', because the parent resource '${scope}' could not be found.`,
      );
    }
    if (fics) {
      if (ctx.method !== 'GET') return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
      return ficList(
        ctx,
        w.fics.filter((f) => f.identityId === rec.id),
      );
    }
    const n = ficName!;
    if (ctx.method === 'PUT') return putFic(ctx, rec, n);
    const existing = w.fics.find((f) => f.identityId === rec.id && f.name.toLowerCase() === n.toLowerCase());
    if (ctx.method === 'GET') {
      if (!existing) return armError(404, 'NotFound', `Federated Identity Credential '${n}' was not found for the managed identity '${rec.id}'.`);
      return { status: 200, body: ficBody(existing) };
    }
    if (ctx.method === 'DELETE') {
      if (!existing) return { status: 204 };
      return withFicWriteLock(ctx, rec, () => {
        w.fics = w.fics.filter((f) => f !== existing);
        return { status: 200 };
      });
    }
    return armError(405, 'MethodNotAllowed', 'The requested resource does not support http method.');
  }
  return undefined;
};
