// ARM simulator plumbing: error bodies, api-version checks, caller authorization, throttling.
import type { Reply } from '../http.ts';
import type { AccessTokenClaims } from '../world-api.ts';
import { lowerId } from '../world.ts';
import type { World } from '../world.ts';
import { KEYVAULT_VERSIONS, MSI_FIC_VERSIONS, MSI_IDENTITY_VERSIONS, RESOURCES_VERSIONS, ROLE_ASSIGNMENT_VERSIONS, ROLE_DEFINITION_VERSIONS, SUBSCRIPTIONS_VERSIONS } from './api-versions.ts';

export interface ArmContext {
  world: World;
  method: string;
  /** Decoded path segments (empty segments kept, so `//subscriptions` stays visible). */
  path: string;
  query: URLSearchParams;
  body: unknown;
  caller: AccessTokenClaims;
}

export type ArmRoute = (ctx: ArmContext) => Reply | Promise<Reply> | undefined;

export function armError(status: number, code: string, message: string, headers?: Record<string, string>): Reply {
  return { status, body: { error: { code, message } }, headers };
}

export const API_VERSIONS = {
  msi: MSI_IDENTITY_VERSIONS,
  fic: MSI_FIC_VERSIONS,
  roleAssignments: ROLE_ASSIGNMENT_VERSIONS,
  roleDefinitions: ROLE_DEFINITION_VERSIONS,
  keyvault: KEYVAULT_VERSIONS,
  subscriptions: SUBSCRIPTIONS_VERSIONS,
  resources: RESOURCES_VERSIONS,
} as const;

/** Regions the sandbox accepts, as ARM lists them in NoRegisteredProviderFound. */
export const SANDBOX_LOCATIONS = ['eastus', 'eastus2', 'westus', 'westus2', 'centralus', 'northeurope', 'westeurope', 'uksouth', 'swedencentral'];

/** The location ARM names for a request: the body's, else the resource's, else the caller's fallback. */
export function requestLocation(ctx: ArmContext, fallback: string | undefined): string {
  const fromBody = ((ctx.body ?? {}) as { location?: unknown }).location;
  if (typeof fromBody === 'string' && fromBody) return fromBody.toLowerCase().replace(/\s+/g, '');
  return fallback ?? ctx.world.defaultLocation;
}

/**
 * undefined when the request's api-version is one the resource type supports; otherwise ARM's
 * answer: 400 NoRegisteredProviderFound naming the location, the version, the type and the
 * supported versions (`location` 'global' for location-less types such as role assignments).
 */
export function checkApiVersion(ctx: ArmContext, supported: readonly string[], resourceType: string, location?: string): Reply | undefined {
  const v = ctx.query.get('api-version');
  if (!v) return armError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  if (!supported.some((s) => s.toLowerCase() === v.toLowerCase())) {
    const where = location ?? requestLocation(ctx, undefined);
    const locations = where === 'global' ? 'global' : SANDBOX_LOCATIONS.join(', ');
    // ARM lists them oldest first, comma and space separated (InvalidApiVersionParameter: newest first, commas).
    const ascending = [...supported].sort();
    return armError(
      400,
      'NoRegisteredProviderFound',
      `No registered resource provider found for location '${where}' and API version '${v}' for type '${resourceType}'. The supported api-versions are '${ascending.join(', ')}'. The supported locations are '${locations}'.`,
    );
  }
  return undefined;
}

/** ARM's own providers (Microsoft.Resources) answer an unknown version with InvalidApiVersionParameter. */
export function checkArmApiVersion(ctx: ArmContext, supported: readonly string[]): Reply | undefined {
  const v = ctx.query.get('api-version');
  if (!v) return armError(400, 'MissingApiVersionParameter', 'The api-version query parameter (?api-version=) is required for all requests.');
  if (supported.some((s) => s.toLowerCase() === v.toLowerCase())) return undefined;
  return armError(
    400,
    'InvalidApiVersionParameter',
    `The api-version '${v}' is invalid. The supported versions are '${supported.join(',')}'. Please see https://aka.ms/arm-api-versions for more details.`,
  );
}

export function isGuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}

/**
 * ARM's own RBAC check for the caller: writes need Owner/Contributor-like `*` actions at or above
 * the scope (Microsoft.Authorization writes need Owner); reads need any role with actions there.
 */
export function authorizeArm(ctx: ArmContext, scope: string, action: string): Reply | undefined {
  const w = ctx.world;
  const oid = ctx.caller.oid.toLowerCase();
  const target = lowerId(scope);
  const defs = new Map(w.roleDefinitions().map((d) => [d.name.toLowerCase(), d]));
  const notActionsOf = (guid: string): string[] => (guid === 'b24988ac-6180-42a0-ab88-20f7382dd24c' ? ['microsoft.authorization/*/write', 'microsoft.authorization/*/delete'] : []);
  const isWrite = !/\/read$/i.test(action);
  const isAuthz = /^Microsoft\.Authorization\//i.test(action);
  for (const a of w.assignments) {
    if (a.principalId.toLowerCase() !== oid) continue;
    const s = lowerId(a.scope);
    if (!(target === s || target.startsWith(s + '/'))) continue;
    const guid = a.roleDefinitionId.split('/').pop()!.toLowerCase();
    const def = defs.get(guid);
    if (!def || def.actions.length === 0) continue;
    if (!isWrite) return undefined;
    if (def.actions.includes('*')) {
      if (isAuthz && notActionsOf(guid).length > 0) continue;
      return undefined;
    }
  }
  return armError(
    403,
    'AuthorizationFailed',
    `The client '${ctx.caller.appid}' with object id '${ctx.caller.oid}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

interface Bucket {
  tokens: number;
  at: number;
}

/** ARM token buckets per subscription + principal, reads and writes separately. */
export class ArmThrottle {
  private buckets = new Map<string, Bucket>();

  reset(): void {
    this.buckets.clear();
  }

  /** Takes one token; returns the remaining count, or the seconds to wait when empty. */
  take(world: World, subscription: string, principal: string, kind: 'read' | 'write'): { ok: true; remaining: number } | { ok: false; retryAfter: number } {
    const cap = kind === 'read' ? world.config.armReadCapacity : world.config.armWriteCapacity;
    const rate = kind === 'read' ? world.config.armReadRefillPerSecond : world.config.armWriteRefillPerSecond;
    const key = `${subscription.toLowerCase()}|${principal.toLowerCase()}|${kind}`;
    const now = Date.now();
    const b = this.buckets.get(key) ?? { tokens: cap, at: now };
    b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens < 1) return { ok: false, retryAfter: Math.max(1, Math.ceil((1 - b.tokens) / Math.max(rate, 0.001))) };
    b.tokens -= 1;
    return { ok: true, remaining: Math.floor(b.tokens) };
  }
}

export function armTimestamp(ms = Date.now()): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}
