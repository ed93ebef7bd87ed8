// Azure Resource Manager simulator: bearer token (audience management), token-bucket throttling
// per subscription + principal, then the resource providers the action uses.
import { randomUUID } from 'node:crypto';
import { PORTS } from '../../ports.ts';
import type { CertPaths } from '../../pki.ts';
import { startHttpsService } from '../http.ts';
import type { HttpRequestInfo, Reply, RunningServer } from '../http.ts';
import type { World } from '../world.ts';
import { authorizationRoute } from './authorization.ts';
import { ArmThrottle, armError } from './common.ts';
import type { ArmContext, ArmRoute } from './common.ts';
import { keyVaultRoute } from './keyvault.ts';
import { aksControl, aksRoute } from './aks.ts';
import { msiRoute } from './msi.ts';
import { metadataEndpoints, resourcesRoute } from './resources.ts';

export const ARM_AUDIENCES = ['https://management.azure.com/', 'https://management.core.windows.net/'];
const ROUTES: ArmRoute[] = [msiRoute, authorizationRoute, keyVaultRoute, aksRoute, resourcesRoute];

function unauthorized(code: string, message: string): Reply {
  return armError(401, code, message, {
    'www-authenticate': `Bearer authorization_uri="https://127.0.0.1:${PORTS.entra}/", error="invalid_token", error_description="${message.replace(/"/g, "'")}"`,
  });
}

export class Arm {
  readonly throttle = new ArmThrottle();
  private world: World;

  constructor(world: World) {
    this.world = world;
  }

  async handle(req: HttpRequestInfo): Promise<Reply> {
    const requestId = randomUUID();
    const common: Record<string, string> = {
      'x-ms-request-id': requestId,
      'x-ms-correlation-request-id': (req.headers['x-ms-client-request-id'] as string | undefined) ?? requestId,
    };
    const reply = await this.inner(req, common);
    return { ...reply, headers: { ...common, ...(reply.headers ?? {}) } };
  }

  private async inner(req: HttpRequestInfo, headers: Record<string, string>): Promise<Reply> {
    const w = this.world;
    // Azure serves the cloud metadata without authentication (clients read it before any login).
    if (req.method === 'GET' && /^\/+metadata\/endpoints\/?$/i.test(req.url.pathname)) return metadataEndpoints(w, req.url.searchParams.get('api-version'));
    const auth = req.headers.authorization;
    if (!auth || !/^Bearer\s+/i.test(auth)) return unauthorized('AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    const token = auth.replace(/^Bearer\s+/i, '');
    let verified = w.verifyAccessToken(token, ARM_AUDIENCES[0]!);
    if (!verified.ok && /audience/.test(verified.reason)) verified = w.verifyAccessToken(token, ARM_AUDIENCES[1]!);
    if (!verified.ok) {
      if (/audience/.test(verified.reason)) {
        return unauthorized(
          'InvalidAuthenticationTokenAudience',
          `The access token has been obtained for wrong audience or resource. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`,
        );
      }
      if (/expired/.test(verified.reason)) return unauthorized('ExpiredAuthenticationToken', 'The access token expiry UTC time is earlier than current UTC time.');
      return unauthorized('InvalidAuthenticationToken', 'The access token is invalid.');
    }
    const caller = verified.claims;
    const kind: 'read' | 'write' = req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write';
    const headerName = req.method === 'DELETE' ? 'x-ms-ratelimit-remaining-subscription-deletes' : `x-ms-ratelimit-remaining-subscription-${kind}s`;
    const sub = /^\/subscriptions\/([^/]+)/i.exec(req.url.pathname)?.[1] ?? w.subscriptionId;
    if (w.config.armThrottle) {
      const t = this.throttle.take(w, sub, caller.oid, kind);
      if (!t.ok) {
        return {
          ...armError(
            429,
            'SubscriptionRequestsThrottled',
            `Number of '${kind}' requests for subscription '${sub}' actor '${caller.oid}' exceeded. Please try again after '${t.retryAfter}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling`,
          ),
          headers: { 'retry-after': String(t.retryAfter), [headerName]: '0' },
          class: kind,
        };
      }
      headers[headerName] = String(t.remaining);
    }
    let body: unknown;
    if (req.body.length > 0) {
      try {
        body = JSON.parse(req.body.toString('utf8'));
      } catch {
        return armError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
      }
    }
    let path: string;
    try {
      path = req.url.pathname
        .split('/')
        .map((s) => decodeURIComponent(s))
        .join('/');
    } catch {
      return armError(400, 'InvalidRequestUri', 'The request URI is not valid.');
    }
    const ctx: ArmContext = { world: w, method: req.method, path: path.length > 1 ? path.replace(/\/$/, '') : path, query: req.url.searchParams, body, caller };
    for (const route of ROUTES) {
      const r = await route(ctx);
      if (r) return { ...this.page(req, r), class: kind };
    }
    return armError(404, 'NotFound', `The sandbox ARM has no resource at '${path}'.`);
  }

  /** Splits `{ value: [...] }` list answers into pages linked by `nextLink` ($skiptoken = offset, `$top` = page size). */
  private page(req: HttpRequestInfo, r: Reply): Reply {
    const body = r.body as { value?: unknown[] } | undefined;
    if (req.method !== 'GET' || r.status !== 200 || !body || !Array.isArray(body.value)) return r;
    // `$top` (FIC and generic resource lists) asks for smaller pages than the sandbox's default.
    const top = Number(req.url.searchParams.get('$top') ?? NaN);
    const size = Math.max(1, Math.floor(Number.isInteger(top) && top > 0 ? Math.min(top, this.world.config.armListPageSize) : this.world.config.armListPageSize));
    const offset = Math.max(0, Number(req.url.searchParams.get('$skiptoken') ?? '0') || 0);
    const value = body.value.slice(offset, offset + size);
    if (offset + size >= body.value.length) return { ...r, body: { ...body, value } };
    const next = new URL(req.url.toString());
    next.searchParams.set('$skiptoken', String(offset + size));
    return { ...r, body: { ...body, value, nextLink: next.toString() } };
  }
}

export function startArm(world: World, cert: CertPaths, log: (m: string) => void): Promise<RunningServer> {
  const arm = new Arm(world);
  world.onReset(() => arm.throttle.reset());
  world.registerControlRoute('*', '/aks/', (req) => aksControl(world, req));
  return startHttpsService({
    service: 'arm',
    world,
    port: PORTS.arm,
    cert,
    log,
    handler: (req) => arm.handle(req),
    errorBody: (_status, code, message) => ({ error: { code, message } }),
  });
}
