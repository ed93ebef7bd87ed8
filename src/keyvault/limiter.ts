// Client-side shaping to Key Vault's service limits: per vault, 300 secret writes and 4,000 other
// operations per 10 s, plus a bound on requests in flight. Staying under the limits beats retrying 429s.

export interface LimiterOptions {
  concurrency: number;
  windowMs: number;
  writesPerWindow: number;
  readsPerWindow: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Just under Key Vault's limits: 282 of 300 writes, 3,500 of 4,000 reads per 10 s, 16 in flight (why these: docs/architecture.md#key-vault-request-limits). */
export const VAULT_LIMITS: LimiterOptions = { concurrency: 16, windowMs: 10_000, writesPerWindow: 282, readsPerWindow: 3_500 };

/** While nothing of a full class has finished yet, how often to look again. */
const FULL_POLL_MS = 50;

type RequestClass = 'read' | 'write';

/**
 * The service counts a request when it arrives, somewhere between its start and its answer here. So
 * a request counts against the window from its start until a window after it finished: a slow or
 * queued request can never let the service see more in one window than the limit.
 */
export class RateLimiter {
  private readonly opts: Required<LimiterOptions>;
  private readonly inFlight: Record<RequestClass, number> = { read: 0, write: 0 };
  /** Finish times (ascending) of the class' requests still in the window, with those handed over. */
  private readonly finished: Record<RequestClass, number[]> = { read: [], write: [] };
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(opts: LimiterOptions) {
    this.opts = {
      now: () => Date.now(),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...opts,
    };
  }

  /** Runs `fn` once a slot is free and the class' window has room. */
  async run<T>(cls: RequestClass, fn: () => Promise<T>): Promise<T> {
    await this.acquireSlot();
    try {
      await this.acquireRate(cls);
      try {
        return await fn();
      } finally {
        this.inFlight[cls]--;
        this.finished[cls].push(this.opts.now());
      }
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }

  /** When the class' requests in the window finished (for the lease hand-over; in-flight ones as now). */
  recent(cls: RequestClass): number[] {
    this.prune(cls);
    const now = this.opts.now();
    return [...this.finished[cls], ...Array.from({ length: this.inFlight[cls] }, () => now)];
  }

  /** Counts requests another client made at `times` against this window (a lease hand-over). */
  seed(cls: RequestClass, times: number[]): void {
    const list = this.finished[cls];
    list.push(...times);
    list.sort((a, b) => a - b);
    this.prune(cls);
  }

  /** Requests counted in the current window, per class (for tests and logs). */
  inWindow(cls: RequestClass): number {
    this.prune(cls);
    return this.finished[cls].length + this.inFlight[cls];
  }

  private async acquireSlot(): Promise<void> {
    while (this.active >= this.opts.concurrency) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
  }

  private prune(cls: RequestClass): void {
    const since = this.opts.now() - this.opts.windowMs;
    const list = this.finished[cls];
    let n = 0;
    while (n < list.length && (list[n] as number) <= since) n++;
    if (n) list.splice(0, n);
  }

  private async acquireRate(cls: RequestClass): Promise<void> {
    const limit = cls === 'write' ? this.opts.writesPerWindow : this.opts.readsPerWindow;
    for (;;) {
      if (this.inWindow(cls) < limit) {
        this.inFlight[cls]++;
        return;
      }
      const oldest = this.finished[cls][0];
      await this.opts.sleep(oldest === undefined ? FULL_POLL_MS : Math.max(1, oldest + this.opts.windowMs - this.opts.now() + 1));
    }
  }
}
