// ARM and Key Vault reads of the action's own, over node's https (util/http-send). A run that
// changes nothing makes only reads, and loading the Azure SDKs for them (about half a megabyte of
// code, and a pipeline per request) was about a fifth of a no-op's CPU; the SDKs now load for writes only.
// The behaviour the SDK clients had is kept: the same retries (src/auth/http.ts), Key Vault's
// challenge authentication with its resource check, bounded answers, and errors that carry the
// status, the service's code and body as the SDKs' RestError does, so the classifiers in http.ts
// read both alike. Design notes: docs/architecture.md ("Reads without the SDKs").
import { randomUUID } from 'node:crypto';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { ACTION_NAME } from '../names.ts';
import { sleep } from '../util/concurrency.ts';
import { headerValue, httpSend, NetworkError } from '../util/http-send.ts';
import type { HttpAnswer } from '../util/http-send.ts';
import { RETRY_AFTER_HEADER, RETRY_AFTER_MS_HEADERS, RETRY_OPTIONS, throttleBackoffMs } from './http.ts';

/** An ARM or Key Vault answer longer than this is not one the action asked for. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** Statuses retried with exponential backoff (as the SDKs' exponentialRetryStrategy: 408 and 5xx but 501 and 505). */
const RETRIED_STATUS = new Set([408, 500, 502, 503, 504]);

/** An error answer of ARM or Key Vault, shaped as the SDKs' RestError (statusCode, code, details, response). */
export class AzureRestError extends Error {
  readonly statusCode: number;
  readonly code?: string;
  /** The parsed error body (`{ error: { code, message, innererror } }`). */
  readonly details?: unknown;
  readonly response: { status: number; bodyAsText: string };
  constructor(what: string, answer: HttpAnswer) {
    const body = parseJson(answer.text) as { error?: { code?: unknown; message?: unknown } } | undefined;
    const code = typeof body?.error?.code === 'string' ? body.error.code : undefined;
    const message = typeof body?.error?.message === 'string' ? body.error.message : `${what}: HTTP ${answer.status}`;
    super(message.length > 2000 ? `${message.slice(0, 2000)}…` : message);
    this.name = 'AzureRestError';
    this.statusCode = answer.status;
    this.code = code;
    this.details = body;
    this.response = { status: answer.status, bodyAsText: answer.text };
  }
}

/**
 * The JSON of a 200 answer, else an AzureRestError. An answer that is not JSON is named by its size
 * only: JSON.parse's message quotes the text, and a secret's answer carries its value.
 */
function jsonOf<T>(answer: HttpAnswer, what: string): T {
  if (answer.status !== 200) throw new AzureRestError(what, answer);
  try {
    return JSON.parse(answer.text) as T;
  } catch {
    throw new Error(`${what}: the answer is not JSON (${Buffer.byteLength(answer.text)} bytes)`);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Milliseconds a throttled or busy answer asks to wait (Retry-After in seconds or as a date, or the -ms headers). */
function retryAfterMs(answer: HttpAnswer, now: number): number | undefined {
  for (const h of RETRY_AFTER_MS_HEADERS) {
    const v = headerValue(answer.headers, h);
    if (v && /^\d+$/.test(v.trim())) return Number(v);
  }
  const v = headerValue(answer.headers, RETRY_AFTER_HEADER)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Exponential backoff with jitter for the n-th retry (0-based), as the SDKs' retryOptions configure it. */
function exponentialMs(attempt: number, random: () => number): number {
  const base = Math.min(RETRY_OPTIONS.maxRetryDelayInMs, RETRY_OPTIONS.retryDelayInMs * 2 ** attempt);
  return Math.round(base * (0.8 + 0.4 * random()));
}

/**
 * How long to wait before retrying this outcome, or undefined for no retry: 429 and 503 wait what
 * the service asks (a 429 that does not say, the throttle backoff), 408/5xx and network failures
 * back off exponentially.
 */
export function retryDelayMs(outcome: HttpAnswer | NetworkError, attempt: number, now: number, random: () => number = Math.random): number | undefined {
  if (attempt >= RETRY_OPTIONS.maxRetries) return undefined;
  if (outcome instanceof NetworkError) return exponentialMs(attempt, random);
  const asked = outcome.status === 429 || outcome.status === 503 ? retryAfterMs(outcome, now) : undefined;
  if (asked !== undefined) return Math.min(asked, RETRY_OPTIONS.maxRetryDelayInMs);
  if (outcome.status === 429) return throttleBackoffMs(attempt, random);
  return RETRIED_STATUS.has(outcome.status) ? exponentialMs(attempt, random) : undefined;
}

/** One GET with the SDKs' retries; `authorization` is asked for on every attempt (a token may renew). */
async function getWithRetries(url: string, authorization: () => Promise<string | undefined>, what: string): Promise<HttpAnswer> {
  for (let attempt = 0; ; attempt++) {
    const auth = await authorization();
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': `${ACTION_NAME} node/${process.versions.node}`,
      'x-ms-client-request-id': randomUUID(),
    };
    if (auth) headers.authorization = auth;
    let outcome: HttpAnswer | NetworkError;
    try {
      outcome = await httpSend(url, { method: 'GET', headers, maxBytes: MAX_ANSWER_BYTES }, what);
    } catch (e) {
      if (!(e instanceof NetworkError)) throw e;
      outcome = e;
    }
    const delay = retryDelayMs(outcome, attempt, Date.now());
    if (delay === undefined) {
      if (outcome instanceof NetworkError) throw outcome;
      return outcome;
    }
    await sleep(delay);
  }
}

function bearer(token: AccessToken | null, scope: string): string {
  if (!token) throw new Error(`no access token for ${scope}`);
  return `Bearer ${token.token}`;
}

/** A follow-up link may only lead back to the service the first request went to (it carries the token). */
function sameOrigin(link: string, origin: string, what: string): string {
  const url = new URL(link);
  if (url.origin !== origin) throw new Error(`${what}: the service's nextLink leads to ${url.origin}, not ${origin}; not followed`);
  return url.href;
}

/** `url` with the query parameters it lacks; values encoded as the SDKs encode them (a space as %20, not +). */
function withQuery(url: string, query: Record<string, string | undefined>): string {
  const u = new URL(url);
  const added = Object.entries(query)
    .filter(([k, v]) => v !== undefined && !u.searchParams.has(k))
    .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`);
  return added.length ? `${u.href}${u.search ? '&' : '?'}${added.join('&')}` : u.href;
}

/** A paged ARM or Key Vault answer. */
interface Page<T> {
  value?: T[];
  nextLink?: string | null;
}

/** ARM reads as one principal: GET of a resource, and lists followed through their nextLinks. */
export interface ArmReader {
  /** The resource at `path` (from `/subscriptions/...`); throws AzureRestError on an error answer. */
  get<T>(path: string, apiVersion: string): Promise<T>;
  /** Every item of a list, page after page. */
  list<T>(path: string, apiVersion: string, query?: Record<string, string | undefined>): Promise<T[]>;
}

export function armReader(credential: TokenCredential, armEndpoint: string, armScope: string): ArmReader {
  const origin = new URL(armEndpoint).origin;
  const authorization = async (): Promise<string> => bearer(await credential.getToken(armScope), armScope);
  const getJson = async <T>(url: string, what: string): Promise<T> => jsonOf<T>(await getWithRetries(url, authorization, what), what);
  return {
    get: <T>(path: string, apiVersion: string) => getJson<T>(withQuery(`${origin}${path}`, { 'api-version': apiVersion }), `GET ${path}`),
    async list<T>(path: string, apiVersion: string, query: Record<string, string | undefined> = {}): Promise<T[]> {
      const what = `GET ${path}`;
      const out: T[] = [];
      let url: string | undefined = withQuery(`${origin}${path}`, { 'api-version': apiVersion, ...query });
      while (url) {
        const page: Page<T> = await getJson<Page<T>>(url, what);
        out.push(...(page.value ?? []));
        url = page.nextLink ? sameOrigin(page.nextLink, origin, what) : undefined;
      }
      return out;
    },
  };
}

/** What a Key Vault challenge asks for: the token's scope and tenant. */
interface Challenge {
  scope: string;
  tenantId?: string;
}

/** The parameters of a `WWW-Authenticate: Bearer k="v", ...` header. */
function challengeParameters(header: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of header.matchAll(/([A-Za-z_]+)="([^"]*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/**
 * The scope and tenant of a Key Vault challenge. With `verify`, the scope's host must be a parent
 * domain of the vault's, so a vault URI that is not the cloud's cannot ask for a token of another
 * service.
 */
export function challengeOf(header: string, vaultUrl: string, verify: boolean): Challenge | undefined {
  const p = challengeParameters(header);
  const scope = p.resource ? `${p.resource.replace(/\/+$/, '')}/.default` : p.scope;
  if (!scope) return undefined;
  if (verify) {
    let host: string;
    try {
      host = new URL(scope).hostname;
    } catch {
      throw new Error(`the Key Vault challenge carries an invalid scope`);
    }
    if (!new URL(vaultUrl).hostname.endsWith(`.${host}`)) throw new Error(`the Key Vault challenge's resource ${host} does not match the vault's domain; no token sent`);
  }
  let tenantId: string | undefined;
  const authority = p.authorization ?? p.authorization_uri;
  if (authority) {
    try {
      tenantId = new URL(authority).pathname.replace(/^\/+/, '').split('/')[0] || undefined;
    } catch {
      throw new Error(`the Key Vault challenge carries an invalid authorization URI`);
    }
  }
  return { scope, tenantId };
}

/** Key Vault data-plane reads of one vault as one principal. */
export interface VaultReader {
  /** The answer at `path` (e.g. `/secrets/name/`), or an AzureRestError. */
  get<T>(path: string): Promise<T>;
  /** The `value` arrays of a list, one page per step (pages of `maxresults`). */
  pages<T>(path: string, maxresults?: number): AsyncIterator<T[]>;
}

/**
 * The first request to a vault goes without a token and its 401 challenge names the token's scope
 * (as the SDK's challenge policy does); every later request carries the token. Requests that start
 * while the challenge is open wait for it instead of each asking again.
 */
export function vaultReader(credential: TokenCredential, vaultUri: string, apiVersion: string, verifyChallenge: boolean): VaultReader {
  const root = vaultUri.replace(/\/+$/, '');
  const origin = new URL(root).origin;
  let challenge: Challenge | undefined;
  let opening: Promise<void> | undefined;

  const tokenFor = async (c: Challenge): Promise<string> => bearer(await credential.getToken(c.scope, { tenantId: c.tenantId }), c.scope);

  const send = async (url: string, what: string): Promise<HttpAnswer> => {
    if (!challenge && opening) await opening; // resolves, whatever the first request's outcome
    if (challenge) {
      const c = challenge;
      return getWithRetries(url, () => tokenFor(c), what);
    }
    let done!: () => void;
    opening = new Promise<void>((resolve) => (done = resolve));
    try {
      const first = await getWithRetries(url, async () => undefined, what);
      const header = first.status === 401 ? headerValue(first.headers, 'www-authenticate') : null;
      if (!header) return first;
      const c = challengeOf(header, url, verifyChallenge);
      if (!c) return first;
      challenge = c;
      return await getWithRetries(url, () => tokenFor(c), what);
    } finally {
      done();
    }
  };

  const getJson = async <T>(url: string, what: string): Promise<T> => jsonOf<T>(await send(url, what), what);

  return {
    get: <T>(path: string) => getJson<T>(withQuery(`${root}${path}`, { 'api-version': apiVersion }), `GET ${path}`),
    pages<T>(path: string, maxresults = 25): AsyncIterator<T[]> {
      const what = `GET ${path}`;
      let url: string | undefined = withQuery(`${root}${path}`, { 'api-version': apiVersion, maxresults: String(maxresults) });
      return {
        async next(): Promise<IteratorResult<T[]>> {
          if (!url) return { done: true, value: undefined };
          const page: Page<T> = await getJson<Page<T>>(url, what);
          url = page.nextLink ? withQuery(sameOrigin(page.nextLink, origin, what), { 'api-version': apiVersion }) : undefined;
          return { done: false, value: page.value ?? [] };
        },
      };
    },
  };
}
