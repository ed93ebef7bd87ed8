// One token per audience for the run. Every SDK client and reader the action builds asks its
// credential for a token, and each ask of the bare credential is a client-assertion fetch (a GitHub ID-token request)
// plus a token request; concurrent first asks would each go to Entra. This wrapper keeps each token
// until shortly before it expires and shares an acquisition in flight, so a run asks GitHub and Entra
// once per audience (CAE and non-CAE asks share the entry).
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { decodeJwtClaims } from './jwt.ts';

/** A cached token is renewed this long before it expires (and at the token's own refresh hint). */
export const TOKEN_RENEW_BEFORE_MS = 5 * 60_000;

function cacheKey(scopes: string | string[], options: GetTokenOptions | undefined): string {
  const list = (Array.isArray(scopes) ? scopes : [scopes]).map((s) => s.toLowerCase()).sort();
  return `${options?.tenantId?.toLowerCase() ?? ''}|${list.join(' ')}`;
}

function fresh(token: AccessToken, now: number): boolean {
  if (token.refreshAfterTimestamp !== undefined && now >= token.refreshAfterTimestamp) return false;
  return now < token.expiresOnTimestamp - TOKEN_RENEW_BEFORE_MS;
}

/** The credential, with its tokens cached per scope (and tenant) for the life of the process. */
export function cachedCredential(inner: TokenCredential, now: () => number = Date.now): TokenCredential {
  const tokens = new Map<string, AccessToken>();
  const pending = new Map<string, Promise<AccessToken | null>>();
  return {
    async getToken(scopes, options) {
      // A claims challenge (CAE revocation) must reach Entra: never answered from the cache.
      if (options?.claims) {
        const t = await inner.getToken(scopes, options);
        if (t) tokens.set(cacheKey(scopes, options), t);
        return t;
      }
      const key = cacheKey(scopes, options);
      const hit = tokens.get(key);
      if (hit && fresh(hit, now())) return hit;
      const inFlight = pending.get(key);
      if (inFlight) return inFlight;
      const p = (async () => {
        try {
          const t = await inner.getToken(scopes, { ...options, enableCae: false });
          if (t) tokens.set(key, t);
          return t;
        } finally {
          pending.delete(key);
        }
      })();
      pending.set(key, p);
      return p;
    },
  };
}

/** An assertion is reused only this soon after it was fetched (one token acquisition)... */
export const ASSERTION_REUSE_MS = 30_000;
/** ...and only while it has at least this long to live (a short-lived one is always fetched afresh). */
export const ASSERTION_MIN_VALIDITY_MS = 60_000;

/**
 * Token acquisitions close together (two audiences at the start of a run, a retried request) share
 * one fresh assertion, so they cost one GitHub ID-token (or service-account token) request.
 * Concurrent asks share one fetch.
 */
export function reuseRecentAssertion(fetch: () => Promise<string>, now: () => number = Date.now): () => Promise<string> {
  let last: { token: string; at: number; exp: number } | undefined;
  let inFlight: Promise<string> | undefined;
  return async () => {
    const t = now();
    if (last && t - last.at < ASSERTION_REUSE_MS && last.exp - t > ASSERTION_MIN_VALIDITY_MS) return last.token;
    if (inFlight) return inFlight;
    inFlight = (async () => {
      try {
        const token = await fetch();
        const exp = decodeJwtClaims(token)?.exp;
        last = { token, at: now(), exp: typeof exp === 'number' ? exp * 1000 : 0 };
        return token;
      } finally {
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
}
