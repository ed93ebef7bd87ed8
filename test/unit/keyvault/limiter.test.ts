// The vault's request shaping: Key Vault counts a request when it arrives, so the limiter must never
// let the service see more than the window allows, however long requests take.
import { describe, expect, it } from '@jest/globals';
import { RateLimiter } from '../../../src/keyvault/limiter.ts';

describe('RateLimiter', () => {
  it('never starts more than the window allows, per class', async () => {
    let t = 0;
    const limiter = new RateLimiter({
      concurrency: 50,
      windowMs: 10_000,
      writesPerWindow: 3,
      readsPerWindow: 5,
      now: () => t,
      sleep: async (ms) => {
        t += ms;
      },
    });
    const inWindow: number[] = [];
    await Promise.all(Array.from({ length: 7 }, () => limiter.run('write', async () => inWindow.push(limiter.inWindow('write')))));
    expect(inWindow).toHaveLength(7);
    expect(Math.max(...inWindow)).toBeLessThanOrEqual(3);
    // 7 writes at 3 per 10 s need a third window
    expect(t).toBeGreaterThanOrEqual(20_000);
    expect(t).toBeLessThan(30_000);
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
    let t = 0;
    const sleeps: number[] = [];
    const limiter = new RateLimiter({
      concurrency: 10,
      windowMs: 10_000,
      writesPerWindow: 2,
      readsPerWindow: 2,
      now: () => t,
      sleep: async (ms) => {
        sleeps.push(ms);
        t += ms;
      },
    });
    // The first write starts at 0 and is answered at 4 s: it may have reached the vault at 4 s.
    await limiter.run('write', async () => {
      t = 4_000;
    });
    await limiter.run('write', async () => undefined);
    const started: number[] = [];
    await limiter.run('write', async () => started.push(t));
    expect(started).toEqual([14_001]);
    expect(sleeps).toEqual([10_001]);
  });

  it('hands over, and takes over, the requests of the window (in-flight ones count as now)', async () => {
    let t = 1_000;
    const limiter = new RateLimiter({ concurrency: 10, windowMs: 10_000, writesPerWindow: 5, readsPerWindow: 5, now: () => t, sleep: async (ms) => void (t += ms) });
    limiter.seed('write', [0, 500, 900]);
    expect(limiter.inWindow('write')).toBe(3);
    let release = (): void => undefined;
    const started = new Promise<void>((began) => {
      void limiter.run('write', () => new Promise<void>((r) => ((release = r), began())));
    });
    await started;
    t = 10_600;
    // 0 and 500 left the window; 900 and the pending write remain.
    expect(limiter.recent('write')).toEqual([900, 10_600]);
    release();
    await new Promise((r) => setImmediate(r));
    expect(limiter.recent('write')).toEqual([900, 10_600]);
    expect(limiter.inWindow('write')).toBe(2);
    expect(limiter.inWindow('read')).toBe(0);
  });
});
