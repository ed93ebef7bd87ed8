// Login with GitHub OIDC: a client-assertion credential whose assertion callback asks the runner for
// a fresh ID token each time (so a long job never presents an expired assertion, AADSTS700024).
import * as runner from '../runner/index.ts';
import type { TokenCredential } from '@azure/core-auth';
import type { Cloud } from './cloud.ts';
import { clientAssertionCredential } from './entra-token.ts';
import { errorCodes, messageOf } from './http.ts';
import { audienceText, decodeJwtClaims } from './jwt.ts';
import { cachedCredential, reuseRecentAssertion } from './token-cache.ts';
import { TOKEN_EXCHANGE_AUDIENCE } from '../names.ts';

export interface AzureSession {
  credential: TokenCredential;
  cloud: Cloud;
  tenantId: string;
  subscriptionId: string;
  clientId: string;
}

export type LoginErrorKind = 'missing-id-token-permission' | 'no-matching-federated-credential' | 'assertion-expired' | 'unknown-client' | 'unknown-tenant' | 'invalid-input' | 'other';

export class LoginError extends Error {
  readonly kind: LoginErrorKind;
  /** The claims of the GitHub token that was presented (never the token itself). */
  readonly presented?: { iss?: string; sub?: string; aud?: string };
  constructor(kind: LoginErrorKind, message: string, presented?: { iss?: string; sub?: string; aud?: string }, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'LoginError';
    this.kind = kind;
    this.presented = presented;
  }
}

/** Entra's "no federated credential matches the assertion" family (issuer / subject / audience / case). */
export const FEDERATION_CODES = ['AADSTS70021', 'AADSTS700211', 'AADSTS700212', 'AADSTS700213', 'AADSTS7002138'];

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A federated-credential name derived from a GitHub subject (for the suggestion in the diagnosis). */
export function suggestedCredentialName(subject: string): string {
  const name = subject
    .replace(/^repo:/, 'github-')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
  return (name || 'github').slice(0, 120);
}

/** The diagnosis of a failed login, from the error and the claims of the last GitHub token presented. */
export function diagnoseLoginError(e: unknown, ctx: { clientId: string; tenantId: string; audience: string; lastAssertion?: string }): LoginError {
  if (e instanceof LoginError) return e;
  const msg = messageOf(e);
  if (/ACTIONS_ID_TOKEN_REQUEST_(URL|TOKEN)/.test(msg)) {
    return new LoginError(
      'missing-id-token-permission',
      'Cannot request a GitHub OIDC token: the job lacks the `id-token: write` permission. Add to the workflow (or job):\n' + 'permissions:\n  id-token: write\n  contents: read',
      undefined,
      e,
    );
  }
  const codes = errorCodes(e);
  const claims = ctx.lastAssertion ? decodeJwtClaims(ctx.lastAssertion) : undefined;
  const presented = claims ? { iss: claims.iss, sub: claims.sub, aud: audienceText(claims.aud) } : undefined;
  if (FEDERATION_CODES.some((c) => codes.includes(c))) {
    const iss = presented?.iss ?? '(unknown issuer)';
    const sub = presented?.sub ?? '(unknown subject)';
    const aud = presented?.aud ?? ctx.audience;
    const fic = { name: suggestedCredentialName(sub), issuer: iss, subject: sub, audiences: [aud] };
    return new LoginError(
      'no-matching-federated-credential',
      `Microsoft Entra found no federated identity credential on app ${ctx.clientId} matching the GitHub token presented ` +
        `(${codes.filter((c) => FEDERATION_CODES.includes(c)).join(', ')}): issuer ${JSON.stringify(iss)}, subject ${JSON.stringify(sub)}, audience ${JSON.stringify(aud)}. ` +
        `Issuer, subject and audience must match byte for byte. Create it with:\n` +
        `  az ad app federated-credential create --id ${ctx.clientId} --parameters '${JSON.stringify(fic)}'`,
      presented,
      e,
    );
  }
  if (codes.includes('AADSTS700024')) {
    return new LoginError('assertion-expired', 'The GitHub token presented to Microsoft Entra was outside its validity window (AADSTS700024); check the runner clock.', presented, e);
  }
  if (codes.includes('AADSTS700016') || codes.includes('unauthorized_client')) {
    return new LoginError(
      'unknown-client',
      `Microsoft Entra does not know client-id ${ctx.clientId} in tenant ${ctx.tenantId} (AADSTS700016); check the client-id and tenant-id inputs.`,
      presented,
      e,
    );
  }
  if (codes.includes('AADSTS90002') || codes.includes('AADSTS900023')) {
    return new LoginError('unknown-tenant', `Tenant ${ctx.tenantId} was not found (${codes.filter((c) => c.startsWith('AADSTS')).join(', ')}); check the tenant-id input.`, presented, e);
  }
  return new LoginError('other', `Azure login failed for client ${ctx.clientId} in tenant ${ctx.tenantId}: ${withCause(oneLine(msg), e)}`, presented, e);
}

/**
 * A multi-line error message as one line (whitespace runs collapsed): "Failed to get ID Token." is
 * followed by its HTTP status and the socket error on later lines, which are the actual cause.
 */
function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, 500);
}

/** The error codes (ECONNREFUSED, HTTP status) of `e` and its causes that the message does not state yet. */
function withCause(message: string, e: unknown): string {
  const extra: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur !== null && typeof cur === 'object'; depth++) {
    const { code, statusCode } = cur as { code?: unknown; statusCode?: unknown };
    for (const v of [code, statusCode]) {
      const t = typeof v === 'string' || typeof v === 'number' ? String(v) : '';
      if (t && /^[A-Za-z0-9_.-]{1,40}$/.test(t) && !message.includes(t) && !extra.includes(t)) extra.push(t);
    }
    if (depth > 0) {
      const m = oneLine(messageOf(cur)).slice(0, 200);
      if (m && !message.includes(m) && !extra.includes(m)) extra.push(m);
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return extra.length ? `${message} (cause: ${extra.join('; ')})` : message;
}

interface OidcOptions {
  clientId: string;
  tenantId: string;
  cloud: Cloud;
  audience?: string;
  getIdToken?: (audience: string) => Promise<string>;
}

/** The GitHub ID token as client assertion (one fetch serves concurrent asks), and the last one presented. */
export interface GithubAssertion {
  assertion: () => Promise<string>;
  lastAssertion: () => string | undefined;
}

export function githubAssertion(opts: OidcOptions): GithubAssertion {
  const audience = opts.audience ?? TOKEN_EXCHANGE_AUDIENCE;
  const injected = opts.getIdToken;
  const getIdToken = injected ?? ((aud: string) => runner.getIDToken(aud));
  let last: string | undefined;
  const fetchOnce = reuseRecentAssertion(async () => {
    const token = await getIdToken(audience);
    if (injected) runner.setSecret(token); // runner.getIDToken masks what it fetches itself
    return token;
  });
  const assertion = async (): Promise<string> => {
    last = await fetchOnce();
    return last;
  };
  return { assertion, lastAssertion: () => last };
}

/** The credential of the deployer's app registration (not proven yet: that is `login`). */
export function githubOidcCredential(opts: OidcOptions, source: GithubAssertion = githubAssertion(opts)): { credential: TokenCredential; lastAssertion: () => string | undefined } {
  const credential = clientAssertionCredential({ tenantId: opts.tenantId, clientId: opts.clientId, authorityHost: opts.cloud.authorityHost, assertion: source.assertion });
  return { credential, lastAssertion: source.lastAssertion };
}

/** Builds the client-assertion credential (fresh GitHub ID token per assertion via the runner's ID-token endpoint,
 * audience default api://AzureADTokenExchange) and proves it by fetching an ARM token; throws LoginError
 * with a diagnosis (missing id-token: write; AADSTS70021 naming the presented iss/sub/aud from the GitHub
 * token's claims and the exact federated credential to create). */
export async function login(opts: {
  clientId: string;
  tenantId: string;
  subscriptionId: string;
  cloud: Cloud;
  audience?: string;
  getIdToken?: (audience: string) => Promise<string>;
}): Promise<AzureSession> {
  const audience = opts.audience ?? TOKEN_EXCHANGE_AUDIENCE;
  for (const [input, value] of [
    ['client-id', opts.clientId],
    ['tenant-id', opts.tenantId],
    ['subscription-id', opts.subscriptionId],
  ] as const) {
    if (!value) throw new LoginError('invalid-input', `input ${input} is required`);
    if (!GUID.test(value) && input !== 'tenant-id') throw new LoginError('invalid-input', `input ${input} must be a GUID, got ${JSON.stringify(value)}`);
  }
  runner.info(`Logging in to ${opts.cloud.name} as ${opts.clientId} (tenant ${opts.tenantId}) with a GitHub OIDC token (audience ${audience})`);
  const source = githubAssertion({ ...opts, audience });
  const lastAssertion = source.lastAssertion;
  let credential: TokenCredential;
  try {
    // One credential for the whole run, its tokens cached per audience (one GitHub ID token each).
    credential = cachedCredential(githubOidcCredential({ ...opts, audience }, source).credential);
    const token = await credential.getToken(opts.cloud.armScope);
    if (!token?.token) throw new Error('Microsoft Entra returned no access token');
    runner.setSecret(token.token);
  } catch (e) {
    throw diagnoseLoginError(e, { clientId: opts.clientId, tenantId: opts.tenantId, audience, lastAssertion: lastAssertion() });
  }
  const claims = lastAssertion() ? decodeJwtClaims(lastAssertion() ?? '') : undefined;
  runner.info(`Logged in (GitHub subject ${claims?.sub ?? 'unknown'})`);
  return { credential, cloud: opts.cloud, tenantId: opts.tenantId, subscriptionId: opts.subscriptionId, clientId: opts.clientId };
}
