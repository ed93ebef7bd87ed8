// Waiting on conditions, never on the clock: every wait polls something observable (an API, a file,
// a process) and fails with what it waited for once its bounded deadline has passed.

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value (not undefined/false); throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 300): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await pause(everyMs);
  }
}

/** Runs `op` until it stops throwing; after `timeoutMs` its last error is thrown. */
export async function retryUntilOk<T>(op: () => Promise<T>, timeoutMs = 60_000, everyMs = 300): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await op();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await pause(everyMs);
    }
  }
}

/**
 * Waits until the clock is past the whole second of `t` (now when absent), plus `extraMs`: Key Vault
 * timestamps have whole seconds, so a write after this lands in a later second than one at `t`.
 */
export async function pastSecondOf(t: Date | undefined, extraMs = 0): Promise<void> {
  const end = (Math.floor((t ?? new Date()).getTime() / 1000) + 1) * 1000 + extraMs;
  await waitFor(`the clock to pass ${new Date(end).toISOString()}`, async () => Date.now() >= end, end - Date.now() + 5_000, 20);
}
