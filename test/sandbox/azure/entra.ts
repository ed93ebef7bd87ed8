// Microsoft Entra simulator: OpenID discovery, JWKS and the v2.0 token endpoint's
// client-credentials grant with a federated client assertion (workload identity federation).
//
// How the assertion is checked, in Entra's order, and which AADSTS code each failure gives
// (codes and message shapes as Entra returns them in public reports):
//   malformed JWT                                   -> 400 invalid_request  AADSTS50027
//   client_id unknown in the tenant                 -> 400 unauthorized_client AADSTS700016
//   exp in the past / nbf in the future             -> 401 invalid_client   AADSTS700024
//   no (effective) federated credential of the client has the assertion's issuer byte-exactly
//   (e.g. a trailing-slash difference), or the only exact match has not propagated yet
//                                                   -> 400 invalid_request  AADSTS70021 (names the
//                                                      presented issuer, subject and audience)
//   issuer matches, subject differs only in case    -> 401 invalid_client   AADSTS7002138
//   issuer matches, subject matches no credential   -> 401 invalid_client   AADSTS700213 ("for presented
//                                                      assertion subject '...'")
//   issuer + subject match, audience does not       -> 401 invalid_client   AADSTS700212
//   issuer's keys cannot be fetched                 -> 401 invalid_client   AADSTS50166
//   signature does not verify against the issuer's JWKS (refetched once on an unknown kid)
//                                                   -> 401 invalid_client   AADSTS700027
//   scope for an unknown resource                   -> 400 invalid_resource AADSTS500011
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { PORTS } from '../ports.ts';
import type { CertPaths } from '../pki.ts';
import { formBody, startHttpsService } from './http.ts';
import type { HttpRequestInfo, Reply, RunningServer } from './http.ts';
import { decodeJwt, verifyWithJwk } from './jwt.ts';
import type { DecodedJwt } from './jwt.ts';
import { GRAPH_PATH, handleGraph } from './graph.ts';
import type { World } from './world.ts';
import type { JsonWebKey } from 'node:crypto';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const WIF_DOC = 'https://learn.microsoft.com/entra/workload-id/workload-identity-federation';

/** Token audiences of the resources the sandbox knows (scope `<resource>/.default`). */
const RESOURCES: Record<string, string> = {
  'https://vault.azure.net': 'https://vault.azure.net',
  'https://management.azure.com': 'https://management.azure.com/',
  'https://management.core.windows.net': 'https://management.core.windows.net/',
};

function entraTimestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

function preciseTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
}

export function aadError(status: number, error: string, code: number, description: string, correlationId: string = randomUUID(), authorityHost = `https://127.0.0.1:${PORTS.entra}`): Reply {
  const trace = randomUUID();
  const ts = entraTimestamp();
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${description} Trace ID: ${trace} Correlation ID: ${correlationId} Timestamp: ${ts}`,
      error_codes: [code],
      timestamp: ts,
      trace_id: trace,
      correlation_id: correlationId,
      error_uri: `${authorityHost}/error?code=${code}`,
    },
    headers: { 'x-ms-request-id': trace, 'client-request-id': correlationId },
  };
}

/** JWKS of external issuers (GitHub, kube-apiserver), fetched over HTTPS trusting the sandbox CA. */
export class IssuerKeys {
  private cache = new Map<string, { keys: JsonWebKey[]; at: number }>();
  private ca: Buffer;
  private ttlMs: number;

  constructor(caPath: string, ttlMs = 60_000) {
    this.ca = readFileSync(caPath);
    this.ttlMs = ttlMs;
  }

  private getJson(url: string): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'GET', ca: this.ca, timeout: 5000, headers: { accept: 'application/jwk-set+json, application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if ((res.statusCode ?? 0) >= 400) return reject(new Error(`GET ${url}: ${res.statusCode}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (e) {
            reject(e as Error);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)));
      req.on('error', reject);
      req.end();
    });
  }

  private async fetchKeys(issuer: string): Promise<JsonWebKey[]> {
    const disco = (await this.getJson(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)) as { jwks_uri?: string; issuer?: string };
    if (!disco.jwks_uri) throw new Error('discovery document has no jwks_uri');
    const jwks = (await this.getJson(disco.jwks_uri)) as { keys?: JsonWebKey[] };
    const keys = jwks.keys ?? [];
    this.cache.set(issuer, { keys, at: Date.now() });
    return keys;
  }

  /** Keys for `issuer` that may verify a token with `kid` (refetched when the kid is unknown). */
  async keysFor(issuer: string, kid: string | undefined): Promise<JsonWebKey[]> {
    const hit = this.cache.get(issuer);
    let keys = hit && Date.now() - hit.at < this.ttlMs ? hit.keys : await this.fetchKeys(issuer);
    const has = (ks: JsonWebKey[]): boolean => kid === undefined || ks.some((k) => (k as { kid?: string }).kid === kid);
    if (!has(keys) && hit) keys = await this.fetchKeys(issuer);
    return kid === undefined ? keys : keys.filter((k) => (k as { kid?: string }).kid === kid);
  }
}

function audiences(payload: Record<string, unknown>): string[] {
  const a = payload.aud;
  if (typeof a === 'string') return [a];
  if (Array.isArray(a)) return a.filter((x): x is string => typeof x === 'string');
  return [];
}

/** Entra's multi-tenant aliases: they resolve to the sandbox's only tenant. */
export const TENANT_ALIASES = ['common', 'organizations'];

/**
 * The v2.0 discovery document for `tenant` (an id or an alias). For an alias the endpoints keep the
 * alias and the issuer is the `{tenantid}` template, as Entra's /common document has it.
 */
export function discoveryDocument(world: World, tenant: string): Record<string, unknown> {
  const base = `${world.authorityHost}/${tenant}`;
  const alias = TENANT_ALIASES.includes(tenant.toLowerCase());
  return {
    token_endpoint: `${base}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${base}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: alias ? `${world.authorityHost}/{tenantid}/v2.0` : `${base}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${world.authorityHost}/oidc/userinfo`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'nonce',
      'preferred_username',
      'name',
      'tid',
      'ver',
      'at_hash',
      'c_hash',
      'email',
    ],
    kerberos_endpoint: `${base}/kerberos`,
    tenant_region_scope: 'NA',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  };
}

/**
 * MSAL's instance discovery (`/common/discovery/instance?api-version=1.1&authorization_endpoint=...`):
 * the sandbox's login host is its own only alias.
 */
function instanceDiscovery(w: World, url: URL): Record<string, unknown> {
  const endpoint = url.searchParams.get('authorization_endpoint') ?? '';
  const tenant = /^https:\/\/[^/]+\/([^/]+)\//.exec(endpoint)?.[1] ?? 'common';
  const host = new URL(w.authorityHost).host;
  return {
    tenant_discovery_endpoint: `${w.authorityHost}/${tenant}/v2.0/.well-known/openid-configuration`,
    'api-version': '1.1',
    metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
  };
}

export class Entra {
  private world: World;
  private keys: IssuerKeys;

  constructor(world: World, caPath: string) {
    this.world = world;
    this.keys = new IssuerKeys(caPath);
  }

  async handle(req: HttpRequestInfo): Promise<Reply> {
    const w = this.world;
    const path = req.url.pathname;
    const graph = handleGraph(w, req);
    if (graph) return graph;
    const corr = (req.headers['client-request-id'] as string | undefined) ?? randomUUID();
    const err = (status: number, error: string, code: number, desc: string): Reply => aadError(status, error, code, desc, corr, w.authorityHost);
    const m = /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/token|discovery\/instance)$/.exec(path);
    if (!m) return { status: 404, text: '' };
    const tenant = m[1]!;
    const what = m[2]!;
    const isAlias = TENANT_ALIASES.includes(tenant.toLowerCase());
    if (!isAlias && tenant.toLowerCase() !== w.tenantId) {
      return err(
        400,
        'invalid_tenant',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
      );
    }
    if (what.startsWith('v2.0/') && req.method === 'GET') return { status: 200, body: discoveryDocument(w, isAlias ? tenant.toLowerCase() : w.tenantId) };
    if (what === 'discovery/instance' && req.method === 'GET') return { status: 200, body: instanceDiscovery(w, req.url) };
    if (what.startsWith('discovery/') && req.method === 'GET') return { status: 200, body: { keys: [{ ...w.entraKey.jwk, x5t: w.entraKey.kid, issuer: w.tokenIssuer }] } };
    if (what.startsWith('oauth2/') && req.method === 'POST') {
      const form = formBody(req);
      const iss = decodeJwt(form.get('client_assertion') ?? '')?.payload.iss;
      const record = { clientId: form.get('client_id') ?? undefined, assertionIssuer: typeof iss === 'string' ? iss : undefined };
      return { ...(await this.token(form, err)), record };
    }
    return { status: 405, text: '' };
  }

  private async token(form: URLSearchParams, err: (status: number, error: string, code: number, desc: string) => Reply): Promise<Reply> {
    const w = this.world;
    const grantType = form.get('grant_type');
    if (grantType !== 'client_credentials') {
      return err(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType ?? ''}'.`);
    }
    const clientId = form.get('client_id') ?? '';
    const scope = form.get('scope');
    if (!scope) return err(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'scope'.");
    const assertion = form.get('client_assertion');
    if (!assertion || form.get('client_assertion_type') !== JWT_BEARER) {
      return err(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const decoded = decodeJwt(assertion);
    if (!decoded) return err(400, 'invalid_request', 50027, 'JWT token is invalid or is malformed.');
    const principal = w.principalByClientId(clientId);
    if (!principal) {
      return err(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${w.tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
      );
    }
    const p = decoded.payload;
    const now = Date.now();
    const exp = typeof p.exp === 'number' ? p.exp * 1000 : 0;
    const nbf = typeof p.nbf === 'number' ? p.nbf * 1000 : typeof p.iat === 'number' ? p.iat * 1000 : 0;
    if (exp <= now || nbf > now + 300_000) {
      return err(
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. Current time: ${preciseTime(now)}, assertion valid from ${preciseTime(nbf)}, expiry time of assertion ${preciseTime(exp)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .`,
      );
    }
    const iss = typeof p.iss === 'string' ? p.iss : '';
    const sub = typeof p.sub === 'string' ? p.sub : '';
    const auds = audiences(p);
    const fics = w.federatedCredentials(clientId).filter((f) => f.effectiveAt <= now);
    const byIssuer = fics.filter((f) => f.issuer === iss);
    const exact = byIssuer.find((f) => f.subject === sub && f.audiences.some((a) => auds.includes(a)));
    if (!exact) {
      if (byIssuer.length === 0) {
        return err(
          400,
          'invalid_request',
          70021,
          `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${auds.join(',')}'. ${WIF_DOC}`,
        );
      }
      const bySubject = byIssuer.filter((f) => f.subject === sub);
      if (bySubject.length > 0) {
        return err(
          401,
          'invalid_client',
          700212,
          `No matching federated identity record found for presented assertion audience '${auds.join(',')}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOC}`,
        );
      }
      if (byIssuer.some((f) => f.subject.toLowerCase() === sub.toLowerCase())) {
        return err(
          401,
          'invalid_client',
          7002138,
          `No matching federated identity record found for presented assertion subject '${sub}'. The subject matches with case-insensitive comparison, but not with case-sensitive comparison. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. See documentation at: ${WIF_DOC}.`,
        );
      }
      return err(
        401,
        'invalid_client',
        700213,
        `No matching federated identity record found for presented assertion subject '${sub}'. Check your federated identity credential Subject, Audience and Issuer against the presented assertion. ${WIF_DOC}`,
      );
    }
    const kid = typeof decoded.header.kid === 'string' ? decoded.header.kid : undefined;
    let candidates: JsonWebKey[];
    try {
      candidates = await this.keys.keysFor(iss, kid);
    } catch (e) {
      return err(401, 'invalid_client', 50166, `Request to External OIDC endpoint failed. Issuer: '${iss}'. Reason: ${(e as Error).message}.`);
    }
    if (!candidates.some((k) => verifyWithJwk(decoded as DecodedJwt, k))) {
      return err(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
    }
    const resource = scope
      .split(' ')
      .find((s) => s.endsWith('/.default'))
      ?.slice(0, -'/.default'.length)
      .replace(/\/+$/, '');
    // The sandbox cloud's own Microsoft Graph (graph.ts) is a resource too.
    const aud = resource === undefined ? undefined : resource === `${w.authorityHost}${GRAPH_PATH}` ? `${resource}/` : RESOURCES[resource];
    if (!aud) {
      return err(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource ?? scope} was not found in the tenant named ${w.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
      );
    }
    const lifetime = 3599;
    return {
      status: 200,
      body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: w.issueAppToken(principal, aud, lifetime) },
    };
  }
}

export function startEntra(world: World, cert: CertPaths, caPath: string, log: (m: string) => void): Promise<RunningServer> {
  const entra = new Entra(world, caPath);
  return startHttpsService({
    service: 'entra',
    world,
    port: PORTS.entra,
    cert,
    log,
    handler: (req) => entra.handle(req),
    errorBody: (status, code, message) => {
      const r = aadError(status, code === 'TooManyRequests' ? 'temporarily_unavailable' : 'server_error', status === 429 ? 50196 : 90033, message);
      return r.body;
    },
  });
}
