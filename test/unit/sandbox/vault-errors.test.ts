import { describe, expect, it } from '@jest/globals';
import { beingDeleted, forbidden, invalidToken, missingToken, throttled } from '../../sandbox/azure/vault/errors.ts';
import { faultAnswer } from '../../sandbox/azure/vault/proxy.ts';

describe('Key Vault error answers', () => {
  it('challenges like the service (SDK recordings): 401, AKV10000, WWW-Authenticate with the authority and resource', () => {
    const a = missingToken('https://127.0.0.1:27011/72f988bf-86f1-41af-91ab-2d7cd011db47');
    expect(a.status).toBe(401);
    expect(a.body).toEqual({ error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } });
    expect(a.headers?.['www-authenticate']).toBe('Bearer authorization="https://127.0.0.1:27011/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"');
  });

  it('tells audience and expiry failures apart without echoing the token', () => {
    const aud = invalidToken('https://a/t', 'audience https://management.azure.com is not https://vault.azure.net');
    expect(aud.status).toBe(401);
    expect((aud.body as { error: { message: string } }).error.message).toMatch(/^AKV10022: Invalid audience/);
    const exp = invalidToken('https://a/t', 'token expired');
    expect((exp.body as { error: { message: string } }).error.message).toMatch(/^AKV10005/);
  });

  it('wraps a data-plane decision as Forbidden with the inner code', () => {
    expect(forbidden('ForbiddenByRbac', 'm').body).toEqual({ error: { code: 'Forbidden', message: 'm', innererror: { code: 'ForbiddenByRbac' } } });
    expect(forbidden('Forbidden', 'm').body).toEqual({ error: { code: 'Forbidden', message: 'm' } });
  });

  it('throttles with the service body and an optional Retry-After', () => {
    const t = throttled(3);
    expect(t.status).toBe(429);
    expect(t.headers?.['retry-after']).toBe('3');
    expect((t.body as { error: { code: string } }).error.code).toBe('Throttled');
    expect(throttled(undefined).headers?.['retry-after']).toBeUndefined();
  });

  it('names the conflict of a name being deleted', () => {
    expect(beingDeleted('secrets', 'db').body).toEqual({
      error: { code: 'Conflict', message: 'Secret db is currently being deleted.', innererror: { code: 'ObjectIsBeingDeleted' } },
    });
  });

  it('shapes injected status faults as Key Vault errors', () => {
    const a = faultAnswer({ kind: 'status', status: 503, retryAfterSeconds: 2 });
    expect(a.status).toBe(503);
    expect(a.headers?.['retry-after']).toBe('2');
    expect((a.body as { error: { code: string } }).error.code).toBe('ServiceUnavailable');
    const b = faultAnswer({ kind: 'status', status: 429 });
    expect((b.body as { error: { code: string } }).error.code).toBe('Throttled');
    expect(b.headers?.['retry-after']).toBeUndefined();
    const c = faultAnswer({ kind: 'status', status: 409, code: 'Conflict', message: 'x', headers: { 'x-extra': '1' } });
    expect(c.body).toEqual({ error: { code: 'Conflict', message: 'x' } });
    expect(c.headers?.['x-extra']).toBe('1');
  });
});
