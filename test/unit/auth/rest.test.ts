// The action's own ARM and Key Vault reads against a real local HTTP server: Key Vault's challenge
// (one unauthenticated request per vault, also when reads start together), the token sent on every
// later request, pages followed only on the service's own origin, retries as the SDKs retry, and
// error answers shaped as the SDKs' RestError (status, code, the inner code the classifiers read).
import { afterEach, describe, expect, it } from '@jest/globals';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import { RETRY_OPTIONS, azureStatusOf, errorCodes } from '../../../src/auth/http.ts';
import { AzureRestError, armReader, challengeOf, retryDelayMs, vaultReader } from '../../../src/auth/rest.ts';
import { NetworkError } from '../../../src/util/http-send.ts';
import type { HttpAnswer } from '../../../src/util/http-send.ts';
import { closeServers, json, serve } from '../../support/local-http.ts';

afterEach(closeServers);

/** A credential that hands out `token-<n>` and records each ask. */
function recordingCredential(): { credential: TokenCredential; asks: Array<{ scopes: string | string[]; options?: GetTokenOptions }> } {
  const asks: Array<{ scopes: string | string[]; options?: GetTokenOptions }> = [];
  return {
    asks,
    credential: {
      async getToken(scopes, options): Promise<AccessToken> {
        asks.push({ scopes, options });
        return { token: 'token-1', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    },
  };
}

const CHALLENGE = 'Bearer authorization="https://login.example/tenant-7", resource="https://vault.azure.net"';
const answer = (status: number, headers: Record<string, string> = {}): HttpAnswer => ({ status, headers, text: '' });

describe('retryDelayMs', () => {
  const now = Date.parse('2026-12-03T10:00:00Z');
  it('waits what a throttled or busy answer asks for, in any of its headers', () => {
    expect(retryDelayMs(answer(429, { 'retry-after': '3' }), 0, now)).toBe(3_000);
    expect(retryDelayMs(answer(503, { 'retry-after-ms': '250' }), 0, now)).toBe(250);
    expect(retryDelayMs(answer(429, { 'x-ms-retry-after-ms': '40' }), 2, now)).toBe(40);
    expect(retryDelayMs(answer(429, { 'retry-after': 'Thu, 03 Dec 2026 10:00:05 GMT' }), 0, now)).toBe(5_000);
  });

  it('backs a 429 without Retry-After off as the throttle policy does, and 408/5xx exponentially', () => {
    expect(retryDelayMs(answer(429), 0, now, () => 0)).toBe(1_000);
    expect(retryDelayMs(answer(429), 2, now, () => 0)).toBe(4_000);
    expect(retryDelayMs(answer(500), 0, now, () => 0.5)).toBe(RETRY_OPTIONS.retryDelayInMs);
    expect(retryDelayMs(answer(504), 1, now, () => 0.5)).toBe(RETRY_OPTIONS.retryDelayInMs * 2);
    expect(retryDelayMs(new NetworkError('GET /x', new Error('ECONNRESET')), 0, now, () => 0.5)).toBe(RETRY_OPTIONS.retryDelayInMs);
  });

  it('does not retry other answers, nor past the retry count', () => {
    for (const status of [200, 400, 401, 403, 404, 409, 501, 505]) expect(retryDelayMs(answer(status), 0, now)).toBeUndefined();
    expect(retryDelayMs(answer(429, { 'retry-after': '1' }), RETRY_OPTIONS.maxRetries, now)).toBeUndefined();
  });
});

describe('challengeOf', () => {
  it('reads the scope from the resource and the tenant from the authorization URI', () => {
    expect(challengeOf(CHALLENGE, 'https://kv-a.vault.azure.net/secrets', true)).toEqual({ scope: 'https://vault.azure.net/.default', tenantId: 'tenant-7' });
    expect(challengeOf('Bearer scope="https://vault.azure.net/.default"', 'https://kv-a.vault.azure.net/', true)).toEqual({ scope: 'https://vault.azure.net/.default', tenantId: undefined });
  });

  it("refuses a resource that is not a parent domain of the vault's, unless verification is off", () => {
    expect(() => challengeOf('Bearer resource="https://management.azure.com"', 'https://kv-a.vault.azure.net/', true)).toThrow(/does not match the vault's domain/);
    expect(() => challengeOf(CHALLENGE, 'https://vault.azure.net.evil.example/', true)).toThrow(/does not match/);
    expect(challengeOf(CHALLENGE, 'https://127.0.0.1:8443/', false)?.scope).toBe('https://vault.azure.net/.default');
  });

  it('is no challenge without a resource or scope', () => {
    expect(challengeOf('Bearer error="invalid_token"', 'https://kv-a.vault.azure.net/', true)).toBeUndefined();
  });
});

describe('vaultReader', () => {
  it('answers the first request with the challenge, then sends the token for its scope and tenant; reads that start together share it', async () => {
    const seen: Array<{ url?: string; auth?: string }> = [];
    const host = await serve((req, _body, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      if (!req.headers.authorization) return json(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, { 'www-authenticate': CHALLENGE });
      json(res, 200, { id: `https://kv.vault.azure.net${req.url!.split('?')[0]!}abc`, value: 'v' });
    });
    const { credential, asks } = recordingCredential();
    const reader = vaultReader(credential, `${host}/`, '2025-07-01', false);
    const [a, b] = await Promise.all([reader.get<{ id: string }>('/secrets/one/'), reader.get<{ id: string }>('/secrets/two/')]);
    expect(a.id).toMatch(/\/secrets\/one\/abc$/);
    expect(b.id).toMatch(/\/secrets\/two\/abc$/);
    expect(seen.filter((s) => !s.auth)).toHaveLength(1);
    expect(seen.filter((s) => s.auth === 'Bearer token-1')).toHaveLength(2);
    expect(seen.every((s) => s.url?.includes('api-version=2025-07-01'))).toBe(true);
    expect(asks.every((x) => x.scopes === 'https://vault.azure.net/.default' && x.options?.tenantId === 'tenant-7')).toBe(true);
  });

  it('pages through nextLink on the same origin, and refuses one that leads elsewhere', async () => {
    const host = await serve((req, _body, res) => {
      if (!req.headers.authorization) return json(res, 401, {}, { 'www-authenticate': CHALLENGE });
      const url = new URL(req.url!, 'http://x');
      if (url.pathname === '/secrets' && !url.searchParams.has('$skiptoken')) return json(res, 200, { value: [{ id: 'a' }], nextLink: `${host}/secrets?$skiptoken=p2&maxresults=25` });
      if (url.pathname === '/secrets') return json(res, 200, { value: [{ id: 'b' }], nextLink: null });
      json(res, 200, { value: [{ id: 'c' }], nextLink: 'https://elsewhere.example/deletedsecrets?$skiptoken=x' });
    });
    const reader = vaultReader(recordingCredential().credential, host, '2025-07-01', false);
    const pages = reader.pages<{ id: string }>('/secrets');
    expect((await pages.next()).value).toEqual([{ id: 'a' }]);
    expect((await pages.next()).value).toEqual([{ id: 'b' }]);
    expect((await pages.next()).done).toBe(true);
    const other = reader.pages<{ id: string }>('/deletedsecrets');
    await expect(other.next()).rejects.toThrow(/nextLink leads to https:\/\/elsewhere.example, not http:\/\/127.0.0.1/);
  });

  it("throws an error answer as the SDK's RestError: status, code and the inner code", async () => {
    const host = await serve((req, _body, res) => {
      if (!req.headers.authorization) return json(res, 401, {}, { 'www-authenticate': CHALLENGE });
      json(res, 403, { error: { code: 'Forbidden', message: 'Caller is not authorized to perform action on resource.', innererror: { code: 'ForbiddenByRbac' } } });
    });
    const reader = vaultReader(recordingCredential().credential, host, '2025-07-01', false);
    const e = await reader.get('/secrets/x/').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AzureRestError);
    expect(azureStatusOf(e)).toBe(403);
    expect((e as AzureRestError).message).toBe('Caller is not authorized to perform action on resource.');
    expect(errorCodes(e)).toEqual(expect.arrayContaining(['Forbidden', 'ForbiddenByRbac']));
  });
  it("names an answer that is not JSON by its size only, never by its text (a secret's answer holds its value)", async () => {
    const host = await serve((req, _body, res) => {
      if (!req.headers.authorization) return json(res, 401, {}, { 'www-authenticate': CHALLENGE });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('value=s3cr3t-value-123'); // JSON.parse's own message quotes such a text
    });
    const reader = vaultReader(recordingCredential().credential, host, '2025-07-01', false);
    const e = (await reader.get('/secrets/x/').catch((err: unknown) => err)) as Error;
    expect(e.message).toBe('GET /secrets/x/: the answer is not JSON (22 bytes)');
    expect(String(e.stack)).not.toContain('s3cr3t');
  });
});

describe('armReader', () => {
  it('sends the ARM token, retries a throttled read after Retry-After and follows nextLink', async () => {
    let calls = 0;
    const seen: Array<{ url?: string; auth?: string }> = [];
    const host = await serve((req, _body, res) => {
      seen.push({ url: req.url, auth: req.headers.authorization });
      if (++calls === 1) return json(res, 429, { error: { code: 'TooManyRequests', message: 'slow down' } }, { 'retry-after-ms': '5' });
      if (!req.url!.includes('$skiptoken'))
        return json(res, 200, {
          value: [{ name: 'a' }],
          nextLink: `${host}/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2024-11-30&$skiptoken=2`,
        });
      json(res, 200, { value: [{ name: 'b' }] });
    });
    const { credential, asks } = recordingCredential();
    const arm = armReader(credential, host, 'https://management.azure.com/.default');
    const list = await arm.list<{ name: string }>('/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities', '2024-11-30', { $filter: undefined });
    expect(list.map((i) => i.name)).toEqual(['a', 'b']);
    expect(seen).toHaveLength(3);
    expect(seen.every((s) => s.auth === 'Bearer token-1')).toBe(true);
    expect(seen[0]!.url).toBe('/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2024-11-30');
    expect(asks.every((a) => a.scopes === 'https://management.azure.com/.default')).toBe(true);
  });

  it('escapes query values and reports a 404 with its code', async () => {
    const seen: string[] = [];
    const host = await serve((req, _body, res) => {
      seen.push(req.url!);
      json(res, 404, { error: { code: 'ResourceNotFound', message: "The Resource 'Microsoft.KeyVault/vaults/kv' was not found." } });
    });
    const arm = armReader(recordingCredential().credential, host, 'https://management.azure.com/.default');
    const e = await arm.list('/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions', '2022-04-01', { $filter: "roleName eq 'O''Brien & co'" }).catch((err: unknown) => err);
    expect(azureStatusOf(e)).toBe(404);
    expect(errorCodes(e)).toContain('ResourceNotFound');
    // As the SDK sent it (the sandbox's records of its requests): spaces as %20, quotes as %27.
    expect(seen[0]).toBe('/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01&$filter=roleName%20eq%20%27O%27%27Brien%20%26%20co%27');
  });
});
