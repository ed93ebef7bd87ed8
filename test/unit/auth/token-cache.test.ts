import { describe, expect, it } from '@jest/globals';
import type { AccessToken, GetTokenOptions } from '@azure/core-auth';
import { ASSERTION_REUSE_MS, cachedCredential, reuseRecentAssertion, TOKEN_RENEW_BEFORE_MS } from '../../../src/auth/token-cache.ts';

/** A credential that counts its acquisitions (each one would be a GitHub ID token and an Entra request). */
function counting(lifetimeMs: number, now: () => number) {
  const asked: { scopes: string[]; options?: GetTokenOptions }[] = [];
  return {
    asked,
    async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
      const n = asked.push({ scopes: [scopes].flat(), options });
      await new Promise((r) => setImmediate(r));
      return { token: `t${n}`, expiresOnTimestamp: now() + lifetimeMs };
    },
  };
}

describe('cachedCredential', () => {
  it('one acquisition per audience for the run, concurrent first asks included', async () => {
    let t = 1_000_000;
    const inner = counting(3_600_000, () => t);
    const c = cachedCredential(inner, () => t);
    const arm = 'https://management.azure.com/.default';
    const kv = 'https://vault.azure.net/.default';
    const got = await Promise.all([c.getToken(arm), c.getToken(arm), c.getToken(kv, { enableCae: true }), c.getToken([arm])]);
    t += 30 * 60_000;
    await c.getToken(arm);
    await c.getToken(kv, { enableCae: true });
    expect(inner.asked.map((a) => a.scopes[0])).toEqual([arm, kv]);
    expect(got.map((g) => g?.token)).toEqual(['t1', 't1', 't2', 't1']);
    // Asked without CAE: one MSAL application (one metadata discovery) serves every audience.
    expect(inner.asked.every((a) => a.options?.enableCae === false)).toBe(true);
  });

  it('renews a token shortly before it expires, and never answers a claims challenge from the cache', async () => {
    let t = 0;
    const inner = counting(3_600_000, () => t);
    const c = cachedCredential(inner, () => t);
    await c.getToken('s');
    t = 3_600_000 - TOKEN_RENEW_BEFORE_MS + 1;
    await c.getToken('s');
    expect(inner.asked).toHaveLength(2);
    await c.getToken('s', { claims: '{"access_token":{}}' });
    expect(inner.asked).toHaveLength(3);
  });

  it('a failed acquisition is not cached: the next ask tries again', async () => {
    let calls = 0;
    const c = cachedCredential({
      async getToken() {
        calls++;
        if (calls === 1) throw new Error('AADSTS70021');
        return { token: 'ok', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    });
    await expect(c.getToken('s')).rejects.toThrow('AADSTS70021');
    await expect(c.getToken('s')).resolves.toMatchObject({ token: 'ok' });
  });
});

const jwtExpiring = (expMs: number, n: number): string => `e30.${Buffer.from(JSON.stringify({ exp: Math.floor(expMs / 1000), n })).toString('base64url')}.c2ln`;

describe('reuseRecentAssertion', () => {
  it('one fetch serves the asks of one acquisition (MSAL asks twice), concurrent ones included', async () => {
    let t = 1_000_000;
    let fetched = 0;
    const get = reuseRecentAssertion(
      async () => jwtExpiring(t + 300_000, ++fetched),
      () => t,
    );
    const [a, b] = await Promise.all([get(), get()]);
    expect(await get()).toBe(a);
    expect(b).toBe(a);
    expect(fetched).toBe(1);
    t += ASSERTION_REUSE_MS; // a later acquisition gets a fresh one
    await get();
    expect(fetched).toBe(2);
  });

  it('a short-lived assertion is fetched afresh every time (a long job never presents an expired one)', async () => {
    const t = 1_000_000;
    let fetched = 0;
    const get = reuseRecentAssertion(
      async () => jwtExpiring(t + 2_000, ++fetched),
      () => t,
    );
    await get();
    await get();
    expect(fetched).toBe(2);
  });
});
