// The vault's request shaping: Key Vault counts a request when it arrives, so the limiter must never
// let the service see more than the window allows, however long requests take.
import { describe, expect, it } from '@jest/globals';
import { RateLimiter } from '../../../src/keyvault/limiter.ts';

/** A limiter on a clock of the test's own: its sleeps move the clock (and are recorded), nothing waits. */
function onTestClock(limits: { concurrency: number; writesPerWindow: number; readsPerWindow: number }, start = 0) {
  const clock = { t: start, sleeps: [] as number[] };
  const limiter = new RateLimiter({
    ...limits,
    windowMs: 10_000,
    now: () => clock.t,
    sleep: async (ms) => {
      clock.sleeps.push(ms);
      clock.t += ms;
    },
  });
  return { limiter, clock };
}

describe('RateLimiter', () => {
  it('never starts more than the window allows, per class', async () => {
    const { limiter, clock } = onTestClock({ concurrency: 50, writesPerWindow: 3, readsPerWindow: 5 });
    const inWindow: number[] = [];
    await Promise.all(Array.from({ length: 7 }, () => limiter.run('write', async () => inWindow.push(limiter.inWindow('write')))));
    expect(inWindow).toHaveLength(7);
    expect(Math.max(...inWindow)).toBeLessThanOrEqual(3);
    // 7 writes at 3 per 10 s need a third window
    expect(clock.t).toBeGreaterThanOrEqual(20_000);
    expect(clock.t).toBeLessThan(30_000);
    // writes do not consume the read budget
    expect(limiter.inWindow('read')).toBe(0);
  });

  it('bounds the requests in flight', async () => {
    const limiter = new RateLimiter({ concurrency: 2, windowMs: 10_000, writesPerWindow: 100, readsPerWindow: 100 });
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        limiter.run('read', async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 5));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
  });

  it('counts a request until a window after it finished, so a slow one cannot make room early', async () => {
    const { limiter, clock } = onTestClock({ concurrency: 10, writesPerWindow: 2, readsPerWindow: 2 });
    // The first write starts at 0 and is answered at 4 s: it may have reached the vault at 4 s.
    await limiter.run('write', async () => {
      clock.t = 4_000;
    });
    await limiter.run('write', async () => undefined);
    const started: number[] = [];
    await limiter.run('write', async () => started.push(clock.t));
    expect(started).toEqual([14_001]);
    expect(clock.sleeps).toEqual([10_001]);
  });

  it('hands over, and takes over, the requests of the window (in-flight ones count as now)', async () => {
    const { limiter, clock } = onTestClock({ concurrency: 10, writesPerWindow: 5, readsPerWindow: 5 }, 1_000);
    limiter.seed('write', [0, 500, 900]);
    expect(limiter.inWindow('write')).toBe(3);
    let release = (): void => undefined;
    const started = new Promise<void>((began) => {
      void limiter.run('write', () => new Promise<void>((r) => ((release = r), began())));
    });
    await started;
    clock.t = 10_600;
    // 0 and 500 left the window; 900 and the pending write remain.
    expect(limiter.recent('write')).toEqual([900, 10_600]);
    release();
    await new Promise((r) => setImmediate(r));
    expect(limiter.recent('write')).toEqual([900, 10_600]);
    expect(limiter.inWindow('write')).toBe(2);
    expect(limiter.inWindow('read')).toBe(0);
  });
});
