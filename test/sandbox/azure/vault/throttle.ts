// Per-vault throttling as Microsoft documents it for vaults ("Azure Key Vault service limits"):
// per vault per region, in any 10-second window, 300 "CREATE secret" transactions and 4,000 for
// all other transactions. Requests answered 429 do not count ("Failed requests that return a
// 429 do not count towards the throttle limits"). Implemented as sliding-window logs.

export interface ThrottleLimits {
  /** CREATE secret/key transactions per window (300 for secrets). */
  create: number;
  /** All other transactions per window (4,000). */
  other: number;
  windowMs: number;
}

export const DEFAULT_LIMITS: ThrottleLimits = { create: 300, other: 4000, windowMs: 10_000 };

class SlidingWindow {
  private readonly stamps: number[] = [];
  private head = 0;
  limit: number;
  windowMs: number;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  private prune(now: number): void {
    while (this.head < this.stamps.length && (this.stamps[this.head] as number) <= now - this.windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.stamps.length) {
      this.stamps.splice(0, this.head);
      this.head = 0;
    }
  }

  used(now: number): number {
    this.prune(now);
    return this.stamps.length - this.head;
  }

  /** Milliseconds until one slot frees (0 when one is free now). */
  waitMs(now: number): number {
    if (this.used(now) < this.limit) return 0;
    const idx = this.head + (this.stamps.length - this.head - this.limit);
    const oldest = this.stamps[Math.max(this.head, idx)] as number;
    return Math.max(1, oldest + this.windowMs - now);
  }

  take(now: number): void {
    this.stamps.push(now);
  }

  clear(): void {
    this.stamps.length = 0;
    this.head = 0;
  }
}

export interface ThrottleDecision {
  allowed: boolean;
  /** Whole seconds for Retry-After when refused. */
  retryAfterSeconds?: number;
  bucket: 'create' | 'other';
}

export class VaultThrottle {
  private readonly create: SlidingWindow;
  private readonly other: SlidingWindow;
  private readonly now: () => number;

  constructor(limits: ThrottleLimits = DEFAULT_LIMITS, now: () => number = Date.now) {
    this.create = new SlidingWindow(limits.create, limits.windowMs);
    this.other = new SlidingWindow(limits.other, limits.windowMs);
    this.now = now;
  }

  get limits(): ThrottleLimits {
    return { create: this.create.limit, other: this.other.limit, windowMs: this.create.windowMs };
  }

  setLimits(l: Partial<ThrottleLimits>): void {
    if (l.create !== undefined) this.create.limit = l.create;
    if (l.other !== undefined) this.other.limit = l.other;
    if (l.windowMs !== undefined) {
      this.create.windowMs = l.windowMs;
      this.other.windowMs = l.windowMs;
    }
  }

  /** Counts the transaction if its bucket has room; otherwise refuses it without counting. */
  admit(bucket: 'create' | 'other'): ThrottleDecision {
    const now = this.now();
    const w = bucket === 'create' ? this.create : this.other;
    const wait = w.waitMs(now);
    if (wait > 0) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)), bucket };
    w.take(now);
    return { allowed: true, bucket };
  }

  usage(): { create: number; other: number } {
    const now = this.now();
    return { create: this.create.used(now), other: this.other.used(now) };
  }

  reset(): void {
    this.create.clear();
    this.other.clear();
  }
}
