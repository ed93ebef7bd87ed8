// A client-credentials token request with a client assertion (RFC 7523), sent straight to Microsoft
// Entra's v2.0 token endpoint: the one call the action needs from an identity library. Loading MSAL
// for it was the largest part of every run's start, and MSAL also fetched the authority's metadata
// first. Why each choice is made: docs/architecture.md ("Login").
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { headerValue, httpSend, NetworkError } from '../util/http-send.ts';
import { sleep } from '../util/concurrency.ts';
import { RETRY_AFTER_HEADER } from './http.ts';

const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Retries of one token request on throttling, server errors and network failures (as the SDKs' pipeline). */
const RETRIES = 3;
const FIRST_BACKOFF_MS = 800;
const MAX_BACKOFF_MS = 30_000;

export interface AssertionCredentialOptions {
  tenantId: string;
  clientId: string;
  authorityHost: string;
  /** The client assertion (a GitHub ID token or a service-account token), asked for on every request. */
  assertion: () => Promise<string>;
  /** Waits between retries; a test may pass one that resolves at once. */
  sleep?: (ms: number) => Promise<void>;
}

/** Entra's OAuth error body (error, error_description, error_codes) with the HTTP status. */
export class EntraTokenError extends Error {
  readonly statusCode: number;
  readonly code: string;
  /** The shape errorCodes() reads (src/auth/http.ts), as MSAL's errors carry it. */
  readonly errorResponse: { error: string; errorDescription: string; errorCodes: number[] };
  constructor(statusCode: number, error: string, description: string, codes: number[]) {
    super(`${error} (HTTP ${statusCode}): ${description}`);
    this.name = 'EntraTokenError';
    this.statusCode = statusCode;
    this.code = error;
    this.errorResponse = { error, errorDescription: description, errorCodes: codes };
  }
}

interface TokenResponse {
  access_token?: unknown;
  expires_in?: unknown;
  refresh_in?: unknown;
  error?: unknown;
  error_description?: unknown;
  error_codes?: unknown;
}

const RETRYABLE_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** Seconds of a Retry-After header (delta form), else the exponential backoff of this attempt. */
function backoffMs(attempt: number, retryAfter: string | null): number {
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : undefined;
  if (seconds !== undefined) return Math.min(seconds * 1000, MAX_BACKOFF_MS);
  return Math.min(FIRST_BACKOFF_MS * 2 ** attempt, MAX_BACKOFF_MS);
}

function tokenEndpoint(o: AssertionCredentialOptions): string {
  return `${o.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(o.tenantId)}/oauth2/v2.0/token`;
}

async function requestBody(o: AssertionCredentialOptions, scopes: string[], claims: string | undefined): Promise<URLSearchParams> {
  const form = new URLSearchParams({
    client_id: o.clientId,
    scope: scopes.join(' '),
    grant_type: 'client_credentials',
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await o.assertion(),
  });
  if (claims) form.set('claims', claims);
  return form;
}

function accessToken(body: TokenResponse, now: number): AccessToken {
  const token = typeof body.access_token === 'string' ? body.access_token : '';
  const expiresIn = Number(body.expires_in);
  if (!token || !Number.isFinite(expiresIn)) throw new EntraTokenError(200, 'invalid_response', 'Microsoft Entra answered without an access token', []);
  const refreshIn = Number(body.refresh_in);
  return {
    token,
    tokenType: 'Bearer',
    expiresOnTimestamp: now + expiresIn * 1000,
    ...(Number.isFinite(refreshIn) && refreshIn > 0 ? { refreshAfterTimestamp: now + refreshIn * 1000 } : {}),
  };
}

function tokenError(status: number, body: TokenResponse): EntraTokenError {
  const error = typeof body.error === 'string' ? body.error : `http_${status}`;
  const description = typeof body.error_description === 'string' ? body.error_description : `Microsoft Entra answered HTTP ${status}`;
  const codes = Array.isArray(body.error_codes) ? body.error_codes.filter((c): c is number => typeof c === 'number') : [];
  return new EntraTokenError(status, error, description, codes);
}

/** A token answer is a few KiB; a longer one is not Entra's. */
const MAX_ANSWER_BYTES = 1024 * 1024;

interface TokenAnswer {
  status: number;
  retryAfter: string | null;
  body: TokenResponse;
}

function parseAnswer(text: string): TokenResponse {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? (v as TokenResponse) : {};
  } catch {
    return {};
  }
}

/** POSTs the form (node's own client: src/util/http-send.ts says why). */
async function postForm(url: string, form: URLSearchParams, signal: AbortSignal | undefined): Promise<TokenAnswer> {
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const answer = await httpSend(url, { method: 'POST', headers, body: form.toString(), signal, maxBytes: MAX_ANSWER_BYTES }, 'token request');
  return { status: answer.status, retryAfter: headerValue(answer.headers, RETRY_AFTER_HEADER), body: parseAnswer(answer.text) };
}

/** One token request, retried on 408/429/5xx (Retry-After honoured) and network failures. */
async function requestToken(o: AssertionCredentialOptions, scopes: string[], options: GetTokenOptions | undefined): Promise<AccessToken> {
  const wait = o.sleep ?? sleep;
  for (let attempt = 0; ; attempt++) {
    let answer: TokenAnswer;
    try {
      // A fresh assertion per attempt: a retried request must not present an expired one (AADSTS700024).
      const form = await requestBody(o, scopes, options?.claims);
      answer = await postForm(tokenEndpoint(o), form, options?.abortSignal as AbortSignal | undefined);
    } catch (e) {
      if (attempt >= RETRIES || options?.abortSignal?.aborted || !(e instanceof NetworkError)) throw e;
      await wait(backoffMs(attempt, null));
      continue;
    }
    if (answer.status >= 200 && answer.status < 300) return accessToken(answer.body, Date.now());
    if (attempt >= RETRIES || !RETRYABLE_STATUS.has(answer.status)) throw tokenError(answer.status, answer.body);
    await wait(backoffMs(attempt, answer.retryAfter));
  }
}

/**
 * A TokenCredential for the SDK clients, always for the configured tenant: Key Vault's challenge names
 * the vault's tenant, which is the same one for workload identity (or the GUID of the domain given).
 */
export function clientAssertionCredential(o: AssertionCredentialOptions): TokenCredential {
  return {
    getToken: (scopes, options) => requestToken(o, Array.isArray(scopes) ? scopes : [scopes], options),
  };
}
