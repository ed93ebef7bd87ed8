// Who holds the vault's write lease: the oldest live version of the lease secret, by the service's
// whole-second clock, ties broken by version id, so every contender computes the same holder.
import { describe, expect, it } from '@jest/globals';
import { decodeWrites, encodeWrites, leaseHolder } from '../../../src/vault/lease.ts';

const T = Date.parse('2026-12-02T12:00:00Z');
const v = (version: string, createdOn: number, over: { expiresOn?: number; enabled?: boolean } = {}) => ({ version, createdOn, enabled: over.enabled ?? true, expiresOn: over.expiresOn });

describe('leaseHolder', () => {
  it('is the oldest live version', () => {
    expect(leaseHolder([v('b', T + 3000), v('a', T + 1000), v('c', T + 2000)], T + 4000)?.version).toBe('a');
  });

  it('ignores released (disabled) and expired versions', () => {
    const versions = [v('a', T, { enabled: false }), v('b', T + 1000, { expiresOn: T + 2000 }), v('c', T + 2000, { expiresOn: T + 60_000 })];
    expect(leaseHolder(versions, T + 3000)?.version).toBe('c');
    expect(leaseHolder(versions.slice(0, 2), T + 3000)).toBeUndefined();
  });

  it('within one second of the service clock the smaller version id wins, whatever the milliseconds', () => {
    expect(leaseHolder([v('f0', T + 100), v('0a', T + 900)], T + 2000)?.version).toBe('0a');
    expect(leaseHolder([v('0a', T + 900), v('f0', T + 100)], T + 2000)?.version).toBe('0a');
  });
});

describe('the throttle window handed over with the lease', () => {
  it('round-trips the writes of the last window per second, in a tag-sized value', () => {
    const at = T + 10_000;
    const times = [...Array.from({ length: 150 }, () => T + 1_200), ...Array.from({ length: 130 }, () => T + 9_500)];
    const text = encodeWrites(times, at);
    expect(text.length).toBeLessThanOrEqual(256);
    const back = decodeWrites(text);
    expect(back).toHaveLength(280);
    // Each write is counted no earlier than it happened, so the next holder never under-counts the window.
    expect(Math.min(...back)).toBeGreaterThanOrEqual(T + 1_000);
    expect(back.every((t) => t <= at)).toBe(true);
  });

  it('reads nothing from a missing or foreign tag', () => {
    expect(decodeWrites(undefined)).toEqual([]);
    expect(decodeWrites('not;a:window;')).toEqual([]);
  });
});
