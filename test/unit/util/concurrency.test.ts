// A read started early: its failure is nobody's unhandled rejection until a step awaits it, and
// that step still sees it.
import { describe, expect, it } from '@jest/globals';
import { startedEarly } from '../../../src/util/concurrency.ts';

describe('startedEarly', () => {
  it('keeps a failure from being unhandled meanwhile, and gives it to whoever awaits later', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const read = startedEarly(Promise.reject(new Error('403 on the credentials list')));
      // Turns of the event loop pass before the step awaits it, as in the pipeline.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      await expect(read).rejects.toThrow('403 on the credentials list');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('is the same promise, so a success reads as before', async () => {
    const p = Promise.resolve(42);
    expect(startedEarly(p)).toBe(p);
    await expect(startedEarly(p)).resolves.toBe(42);
  });
});
