import { IDEMPOTENCY_WINDOW_MS, isValid, type IdempotencyStore } from '../idempotency.js';
import type { Db } from './pool.js';

/**
 * An {@link IdempotencyStore} on the `idempotency` table, shared by the replicas. `record` keeps
 * the first command of a key: it replaces an entry only once that entry has expired (two replicas
 * recording the same key at once leave the one that came first), and drops expired entries.
 */
export function createPgIdempotency(db: Db): IdempotencyStore {
  return {
    async find(caller, key, now) {
      const { rows } = await db.query<{ command_id: string; at: number }>('SELECT command_id, at FROM idempotency WHERE caller = $1 AND key = $2', [
        caller,
        key,
      ]);
      const row = rows[0];
      return row && isValid(row.at, now) ? row.command_id : undefined;
    },
    async record(caller, key, commandId, now) {
      const expired = now - IDEMPOTENCY_WINDOW_MS;
      await db.transaction(async (query) => {
        await query('DELETE FROM idempotency WHERE at <= $1', [expired]);
        await query(
          `INSERT INTO idempotency (caller, key, command_id, at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (caller, key) DO UPDATE SET command_id = excluded.command_id, at = excluded.at WHERE idempotency.at <= $5`,
          [caller, key, commandId, now, expired],
        );
      });
    },
  };
}
