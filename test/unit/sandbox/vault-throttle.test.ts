import { describe, expect, it } from '@jest/globals';
import { DEFAULT_LIMITS, VaultThrottle } from '../../sandbox/azure/vault/throttle.ts';

describe('VaultThrottle', () => {
  it("uses Microsoft's published limits by default: 300 secret creates and 4,000 others per 10 s", () => {
    expect(DEFAULT_LIMITS).toEqual({ create: 300, other: 4000, windowMs: 10_000 });
  });

  it('admits up to the limit in a window, refuses the next with a Retry-After, and frees slots as the window slides', () => {
    let now = 1_000_000;
    const t = new VaultThrottle({ create: 3, other: 5, windowMs: 10_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.admit('create').allowed).toBe(true);
      now += 1000;
    }
    const refused = t.admit('create');
    expect(refused.allowed).toBe(false);
    // the first admission was at 1,000,000; it leaves the window at 1,010,000; now is 1,003,000
    expect(refused.retryAfterSeconds).toBe(7);
    // refused requests are not counted
    expect(t.usage().create).toBe(3);
    now = 1_010_000;
    expect(t.admit('create').allowed).toBe(true);
    expect(t.admit('create').allowed).toBe(false);
  });

  it('keeps the two buckets apart', () => {
    const now = 5000;
    const t = new VaultThrottle({ create: 1, other: 2, windowMs: 10_000 }, () => now);
    expect(t.admit('create').allowed).toBe(true);
    expect(t.admit('create').allowed).toBe(false);
    expect(t.admit('other').allowed).toBe(true);
    expect(t.admit('other').allowed).toBe(true);
    expect(t.admit('other').allowed).toBe(false);
    expect(t.usage()).toEqual({ create: 1, other: 2 });
  });

  it('applies new limits and can be emptied', () => {
    const now = 0;
    const t = new VaultThrottle({ create: 1, other: 1, windowMs: 1000 }, () => now);
    t.admit('other');
    expect(t.admit('other').allowed).toBe(false);
    t.setLimits({ other: 2 });
    expect(t.admit('other').allowed).toBe(true);
    t.reset();
    expect(t.usage()).toEqual({ create: 0, other: 0 });
    expect(t.limits).toEqual({ create: 1, other: 2, windowMs: 1000 });
  });

  it('handles a long run at the full budget', () => {
    let now = 0;
    const t = new VaultThrottle(DEFAULT_LIMITS, () => now);
    let admitted = 0;
    for (let i = 0; i < 10_000; i++) {
      if (t.admit('other').allowed) admitted++;
      now += 1; // 10,000 requests in 10 s
    }
    expect(admitted).toBe(4000);
  });
});
