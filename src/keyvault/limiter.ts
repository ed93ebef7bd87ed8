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

export class RateLimiter {
  private readonly opts: Required<LimiterOptions>;
  private readonly starts: Record<'read' | 'write', number[]> = { read: [], write: [] };
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
  async run<T>(cls: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    await this.acquireSlot();
    try {
      await this.acquireRate(cls);
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }

  /** Start times of the class' requests still in the current window (for the lease hand-over). */
  recent(cls: 'read' | 'write'): number[] {
    this.prune(cls);
    return [...this.starts[cls]];
  }

  /** Counts requests another client started at `times` against this window (a lease hand-over). */
  seed(cls: 'read' | 'write', times: number[]): void {
    const list = this.starts[cls];
    list.push(...times);
    list.sort((a, b) => a - b);
    this.prune(cls);
  }

  /** Requests started in the current window, per class (for tests and logs). */
  inWindow(cls: 'read' | 'write'): number {
    this.prune(cls);
    return this.starts[cls].length;
  }

  private async acquireSlot(): Promise<void> {
    while (this.active >= this.opts.concurrency) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
  }

  private prune(cls: 'read' | 'write'): void {
    const since = this.opts.now() - this.opts.windowMs;
    const list = this.starts[cls];
    while (list.length && (list[0] ?? 0) <= since) list.shift();
  }

  private async acquireRate(cls: 'read' | 'write'): Promise<void> {
    const limit = cls === 'write' ? this.opts.writesPerWindow : this.opts.readsPerWindow;
    for (;;) {
      this.prune(cls);
      const list = this.starts[cls];
      if (list.length < limit) {
        list.push(this.opts.now());
        return;
      }
      const oldest = list[0] ?? this.opts.now();
      await this.opts.sleep(Math.max(1, oldest + this.opts.windowMs - this.opts.now() + 1));
    }
  }
}
