// Who holds the vault's write lease: the oldest live version of the lease secret, by the service's
// whole-second clock, ties broken by version id, so every contender computes the same holder.
import { describe, expect, it } from '@jest/globals';
import { decodeWrites, encodeWrites, handedOverWrites, leaseHolder } from '../../../src/vault/lease.ts';

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

  it("the next holder takes over the last holder's window, even when two holds were released in one second", () => {
    // A wrote 100 in its hold; B was handed those and wrote 80 more; both released in the same
    // service second, listed in either order. (Their lease versions date from before the window.)
    const a = encodeWrites(
      Array.from({ length: 100 }, () => T + 200),
      T + 400,
    );
    const b = encodeWrites([...decodeWrites(a), ...Array.from({ length: 80 }, () => T + 600)], T + 900);
    const released = (version: string, writes: string) => ({ version, createdOn: T - 20_000, enabled: false, writes });
    for (const versions of [
      [released('a', a), released('b', b)],
      [released('b', b), released('a', a)],
    ])
      expect(handedOverWrites(versions, 'mine', T + 1_000)).toHaveLength(180);
  });

  it('hands over only the writes still in the window, and nothing from live or untagged versions', () => {
    const old = encodeWrites([T], T + 100);
    const before = T - 20_000;
    const live = { version: 'l', createdOn: before, enabled: true, writes: encodeWrites([T + 5_000], T + 5_000) };
    expect(handedOverWrites([{ version: 'o', createdOn: before, enabled: false, writes: old }, live, { version: 'u', createdOn: before, enabled: false }], 'mine', T + 10_500)).toEqual([]);
    expect(handedOverWrites([{ version: 'o', createdOn: before, enabled: false, writes: old }], 'mine', T + 9_000)).toEqual([T + 100]);
  });

  it("counts the lease's own writes no tag holds: other contenders' versions and releases, at the end of their second", () => {
    const versions = [
      // released in the window: its creation and its release are writes
      { version: 'r', createdOn: T + 1_000, updatedOn: T + 3_000, enabled: false },
      // still waiting: its creation
      { version: 'w', createdOn: T + 2_000, enabled: true },
      // this run's own version is in its own limiter already
      { version: 'mine', createdOn: T + 2_000, enabled: true },
      // created and released before the window
      { version: 'gone', createdOn: T - 30_000, updatedOn: T - 20_000, enabled: false },
    ];
    expect(handedOverWrites(versions, 'mine', T + 3_500).sort((x, y) => x - y)).toEqual([T + 1_999, T + 2_999, T + 3_500]);
  });
});
