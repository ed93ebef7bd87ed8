// Bounded concurrency, in one place. Two policies on failure, named for what they do: the vault's
// writes let every started item finish (`mapAll`), the Kubernetes reads stop early (`mapUntilError`).

/** Maps `items` through `fn` with at most `limit` in flight; every item runs, then the first error (in time) is thrown. */
export async function mapAll<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  const errors: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length) throw errors[0];
  return results;
}

/**
 * Maps `items` through `fn` with at most `limit` calls pending, keeping the input order in the
 * result. After a failure no new call starts; the calls already running are awaited and the error of
 * the earliest failed item (in input order) is thrown, so the outcome does not depend on timing.
 */
export async function mapUntilError<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  const errors = new Map<number, unknown>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.size === 0) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        errors.set(i, err);
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, () => worker());
  await Promise.all(workers);
  if (errors.size) throw errors.get(Math.min(...errors.keys()));
  return results;
}

/** Resolves after `ms` milliseconds (a backoff's wait). */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A semaphore: `run(fn)` starts fn once fewer than `limit` runs are pending. */
export function semaphore(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <R>(fn: () => Promise<R>): Promise<R> => {
    // A released slot is handed to the next waiter directly, so `active` never exceeds `limit`.
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const wake = waiting.shift();
      if (wake) wake();
      else active--;
    }
  };
}

/**
 * A promise started now and awaited later (read ahead): marked handled so a failure before the await
 * is not an unhandled rejection; the awaiting step still sees the failure. Returns the same promise.
 */
export function startedEarly<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}
