import { ApiError } from '../errors.js';

export class RateLimitedError extends ApiError {
  constructor(message: string, retryAfterSeconds: number) {
    super('RATE_LIMITED', message, { retryAfterSeconds, http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } } });
  }
}

/** A token bucket per caller: `perMinute` starts a minute, refilled continuously. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one from `caller`'s bucket or throws RATE_LIMITED. */
  take(caller: string, what: string): void {
    if (this.perMinute <= 0) return;
    const now = this.now();
    const b = this.buckets.get(caller) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) / 60_000) * this.perMinute);
    b.at = now;
    if (b.tokens < 1) {
      this.buckets.set(caller, b);
      const wait = Math.ceil(((1 - b.tokens) / this.perMinute) * 60);
      throw new RateLimitedError(`too many ${what}: at most ${this.perMinute} a minute for ${caller}; try again in ${wait}s`, wait);
    }
    b.tokens -= 1;
    this.buckets.set(caller, b);
  }
}

/** Open subscriptions (GraphQL and SSE streams) per caller, at most `max` each. */
export class SubscriptionCounter {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Counts one more for `caller`, or throws RATE_LIMITED; returns the release function (idempotent). */
  acquire(caller: string): () => void {
    const n = this.open.get(caller) ?? 0;
    if (n >= this.max) throw new RateLimitedError(`too many open subscriptions: at most ${this.max} for ${caller}; close one first`, 1);
    this.open.set(caller, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(caller) ?? 1) - 1;
      if (left <= 0) this.open.delete(caller);
      else this.open.set(caller, left);
    };
  }

  total(): number {
    let n = 0;
    for (const v of this.open.values()) n += v;
    return n;
  }
}
