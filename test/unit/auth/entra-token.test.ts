// The token request against a real local HTTP server: the form it posts, the retry on throttling
// (Retry-After honoured) and on a refused connection, and Entra's error body surfaced as EntraTokenError.
import { afterEach, describe, expect, it } from '@jest/globals';
import { EntraTokenError, clientAssertionCredential } from '../../../src/auth/entra-token.ts';
import { closeServers, json, serve } from '../../support/local-http.ts';

afterEach(closeServers);

describe('clientAssertionCredential', () => {
  it('posts the client-assertion form to the tenant endpoint and returns the token', async () => {
    const seen: Array<{ url?: string; form: URLSearchParams; type?: string }> = [];
    const host = await serve((req, body, res) => {
      seen.push({ url: req.url, form: new URLSearchParams(body), type: req.headers['content-type'] });
      json(res, 200, { token_type: 'Bearer', access_token: 'at-1', expires_in: 3599, refresh_in: 1800 });
    });
    const cred = clientAssertionCredential({ tenantId: 'tenant-a', clientId: 'client-a', authorityHost: `${host}/`, assertion: async () => 'jwt-1' });
    const before = Date.now();
    const token = await cred.getToken('https://vault.azure.net/.default');
    expect(token?.token).toBe('at-1');
    expect(token!.expiresOnTimestamp).toBeGreaterThanOrEqual(before + 3_599_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.url).toBe('/tenant-a/oauth2/v2.0/token');
    expect(seen[0]!.type).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(seen[0]!.form)).toEqual({
      client_id: 'client-a',
      scope: 'https://vault.azure.net/.default',
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: 'jwt-1',
    });
  });

  it('retries a throttled request after Retry-After, with a fresh assertion', async () => {
    let calls = 0;
    const assertions: string[] = [];
    const host = await serve((_req, body, res) => {
      assertions.push(new URLSearchParams(body).get('client_assertion') ?? '');
      if (++calls === 1) json(res, 429, { error: 'temporarily_unavailable' }, { 'retry-after': '7' });
      else json(res, 200, { access_token: 'at-2', expires_in: 60 });
    });
    const waits: number[] = [];
    let n = 0;
    const cred = clientAssertionCredential({
      tenantId: 't',
      clientId: 'c',
      authorityHost: host,
      assertion: async () => `jwt-${++n}`,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    expect((await cred.getToken(['s/.default']))?.token).toBe('at-2');
    expect(waits).toEqual([7_000]);
    expect(assertions).toEqual(['jwt-1', 'jwt-2']);
  });

  it("surfaces Entra's error body, without retrying a client error", async () => {
    let calls = 0;
    const host = await serve((_req, _body, res) => {
      calls++;
      json(res, 400, { error: 'invalid_client', error_description: 'AADSTS700213: No matching federated identity record found', error_codes: [700213] });
    });
    const cred = clientAssertionCredential({ tenantId: 't', clientId: 'c', authorityHost: host, assertion: async () => 'jwt' });
    const err = await cred.getToken('s/.default').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EntraTokenError);
    expect((err as EntraTokenError).errorResponse).toEqual({ error: 'invalid_client', errorDescription: 'AADSTS700213: No matching federated identity record found', errorCodes: [700213] });
    expect(calls).toBe(1);
  });

  it('retries a refused connection, then fails with the network error', async () => {
    const host = await serve(() => undefined);
    await closeServers(); // nothing listens there any more
    const waits: number[] = [];
    let asked = 0;
    const cred = clientAssertionCredential({
      tenantId: 't',
      clientId: 'c',
      authorityHost: host,
      assertion: async () => {
        asked++;
        return 'jwt';
      },
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    await expect(cred.getToken('s/.default')).rejects.toThrow(/token request failed: .*ECONNREFUSED/);
    expect(asked).toBe(4);
    expect(waits).toEqual([800, 1_600, 3_200]);
  });

  it('does not retry when the assertion getter fails', async () => {
    const host = await serve((_req, _body, res) => json(res, 200, { access_token: 'x', expires_in: 60 }));
    const cred = clientAssertionCredential({
      tenantId: 't',
      clientId: 'c',
      authorityHost: host,
      assertion: async () => {
        throw new Error('no ID token: the job lacks id-token: write');
      },
      sleep: async () => {
        throw new Error('must not wait');
      },
    });
    await expect(cred.getToken('s/.default')).rejects.toThrow('no ID token: the job lacks id-token: write');
  });
});
