import { RateLimitedError } from '../auth/limits.js';
import type { Db } from '../store/postgres/pool.js';

/** What the guard asks of a rate limiter. */
export interface AsyncRateLimiter {
  /** Takes one from `caller`'s bucket or throws RATE_LIMITED. */
  take(caller: string, what: string): Promise<void>;
}

/**
 * The per-token rate limit of replicas: the token bucket of `auth/limits.ts` (`perMinute` starts a
 * minute, refilled continuously), kept in `rate_buckets` and taken under the row's lock, so that
 * three replicas share one bucket per caller instead of giving each caller three. The database's
 * clock refills it (replicas' clocks do not matter).
 */
export function createPgRateLimiter(db: Db, perMinute: number): AsyncRateLimiter {
  return {
    async take(caller, what) {
      if (perMinute <= 0) return;
      await db.transaction(async (query) => {
        await query('INSERT INTO rate_buckets (caller, tokens, at) VALUES ($1, $2, now()) ON CONFLICT (caller) DO NOTHING', [caller, perMinute]);
        const { rows } = await query<{ tokens: number }>(
          'SELECT least($2::float8, tokens + extract(epoch FROM now() - at)::float8 / 60 * $2::float8) ' +
            'AS tokens FROM rate_buckets WHERE caller = $1 FOR UPDATE',
          [caller, perMinute],
        );
        const tokens = rows[0]!.tokens;
        if (tokens < 1) {
          // Refused: the transaction rolls back and leaves the bucket as it was (the refill is computed again next time).
          const wait = Math.max(1, Math.ceil(((1 - tokens) / perMinute) * 60));
          throw new RateLimitedError(`too many ${what}: at most ${perMinute} a minute for ${caller}; try again in ${wait}s`, wait);
        }
        await query('UPDATE rate_buckets SET tokens = $2, at = now() WHERE caller = $1', [caller, tokens - 1]);
      });
    },
  };
}
