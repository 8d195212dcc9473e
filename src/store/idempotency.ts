import type Database from 'better-sqlite3';
import type { WriteQueue } from './write-queue.js';

/** How long an idempotency key names its first command (DESIGN.md: "within a day"). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * Remembers which command a caller started with an idempotency key, so that a retry with the
 * same key within {@link IDEMPOTENCY_WINDOW_MS} gets that command instead of starting another.
 * `now` is epoch ms, passed in so that expiry can be tested.
 */
export interface IdempotencyStore {
  /** The command started by `caller` with `key` less than the window before `now`, if any. */
  find(caller: string, key: string, now: number): Promise<string | undefined>;
  /** Remembers that `caller` started `commandId` with `key` at `now` (replacing an expired entry); resolves once durable. */
  record(caller: string, key: string, commandId: string, now: number): Promise<void>;
}

export const isValid = (at: number, now: number): boolean => now - at < IDEMPOTENCY_WINDOW_MS;

/** An {@link IdempotencyStore} in memory; expired entries are dropped as new ones come. */
export function createMemoryIdempotency(): IdempotencyStore {
  /** In the order entries were recorded, so the expired ones are at the front. */
  const entries = new Map<string, { commandId: string; at: number }>();
  const keyOf = (caller: string, key: string): string => `${caller}\0${key}`;
  return {
    async find(caller, key, now) {
      const entry = entries.get(keyOf(caller, key));
      return entry && isValid(entry.at, now) ? entry.commandId : undefined;
    },
    async record(caller, key, commandId, now) {
      for (const [k, entry] of entries) {
        if (isValid(entry.at, now)) break;
        entries.delete(k);
      }
      const k = keyOf(caller, key);
      entries.delete(k);
      entries.set(k, { commandId, at: now });
    },
  };
}

/**
 * An {@link IdempotencyStore} in the store file, so a key still holds after a restart. An entry
 * is written in the same transaction as everything queued before it (the command it names
 * included): after a crash, a key never names a command the file does not have.
 */
export function createSqliteIdempotency(db: Database.Database, queue: WriteQueue): IdempotencyStore {
  const select = db.prepare<[string, string], { command_id: string; at: number }>('SELECT command_id, at FROM idempotency WHERE caller = ? AND key = ?');
  const upsert = db.prepare<[string, string, string, number]>(
    `INSERT INTO idempotency (caller, key, command_id, at) VALUES (?, ?, ?, ?)
     ON CONFLICT (caller, key) DO UPDATE SET command_id = excluded.command_id, at = excluded.at`,
  );
  const expire = db.prepare<[number]>('DELETE FROM idempotency WHERE at <= ?');
  return {
    async find(caller, key, now) {
      const row = select.get(caller, key);
      return row && isValid(row.at, now) ? row.command_id : undefined;
    },
    async record(caller, key, commandId, now) {
      queue.flush(() => {
        expire.run(now - IDEMPOTENCY_WINDOW_MS);
        upsert.run(caller, key, commandId, now);
      });
    },
  };
}
