import type pg from 'pg';
import type { Logger } from '../../logger.js';
import type { IdempotencyStore } from '../idempotency.js';
import { createFence, type Fence } from './fence.js';
import { migrate } from './migrations.js';
import { CHANNELS, createNotifications, type Notifications } from './notifications.js';
import { createPgCommandStore, type PgCommandStore } from './pg-command-store.js';
import { createPgEventLog, type PgEventLog } from './pg-event-log.js';
import { createPgIdempotency } from './pg-idempotency.js';
import { PgWriteQueue, type FlushStats } from './pg-write-queue.js';
import { connectionConfig, createDb, type Db, type QueryStats } from './pool.js';

export { FencedError } from './errors.js';
export type { Fence } from './fence.js';
export { PG_SCHEMA_VERSION } from './migrations.js';
export { CHANNELS, type Notifications } from './notifications.js';
export type { PgCommandStore } from './pg-command-store.js';
export type { Interest, PgEventLog } from './pg-event-log.js';
export type { FlushStats } from './pg-write-queue.js';
export type { Db, Query, QueryStats } from './pool.js';
export { commandOf, type PgCommandRow } from './rows.js';

/** Where and how the store keeps history. */
export interface PgStoreOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** This process's name among the replicas: the owner of its leases, and named in the notifications it sends. */
  replicaId: string;
  /**
   * How long an appended event may wait in memory before its batch is written; a crash of the
   * process loses at most these events (and the batch in flight).
   * @default 50
   */
  flushMs?: number;
  /**
   * Output bytes held unwritten (the database is slow or away) above which `log.backlogged()`
   * is true, so the caller can pause reading output until `log.drained()`.
   * @default 67108864 (64 MiB)
   */
  maxPendingBytes?: number;
  /** Where failed writes, lost connections and fenced commands are reported. */
  logger?: Logger;
  /** Called after each committed batch (metrics, tests), after followers and `onDurable` listeners were told. */
  onFlush?: (stats: FlushStats) => void;
}

/** Command history in PostgreSQL, shared by several replicas, behind the interfaces the run manager uses. */
export interface PgStore {
  /** The connection pool, for the coordination code (admission, leases) to run its own SQL. */
  pool: pg.Pool;
  /** Resolves once everything written before the call is committed (while the database is away, it waits). */
  flushed(): Promise<void>;
  /** The same pool with timed `query` and `transaction` (counted in {@link stats} and {@link healthy}): prefer it to `pool`. */
  db: Db;
  log: PgEventLog;
  commands: PgCommandStore;
  idempotency: IdempotencyStore;
  fence: Fence;
  notifications: Notifications;
  /** False while the database cannot be reached (the last statement or connection failed); true again once one succeeds. */
  healthy(): boolean;
  /** Statement counters and the output waiting to be written, for `/metrics`. */
  stats(): QueryStats & { pendingBytes: number };
  /** Writes what is pending (waiting at most 5 s for the database), ends followers, stops listening and ends the pool. */
  close(): Promise<void>;
}

/** How long `close` waits for pending writes when the database is away. */
const CLOSE_WAIT_MS = 5000;

/**
 * Opens the store: connects, brings the schema up to date (once, whichever replica comes first)
 * and starts listening. Appended events and changed command rows are written in batches, one
 * transaction each, every `flushMs` and at once when a command completes; readers and followers
 * on every replica see an event once its batch has committed.
 */
export async function openPgStore(o: PgStoreOptions): Promise<PgStore> {
  const config = connectionConfig(o.url, o.replicaId);
  const db = createDb(config, o.logger);
  const notifications = createNotifications({ config, db, logger: o.logger });
  try {
    await migrate(db.pool);
    await notifications.start();
  } catch (err) {
    await notifications.close();
    await db.end().catch(() => {});
    throw err;
  }
  const fence = createFence(o.logger);
  const queue = new PgWriteQueue({
    db,
    fence,
    replicaId: o.replicaId,
    flushMs: o.flushMs ?? 50,
    maxPendingBytes: o.maxPendingBytes ?? 64 * 1024 * 1024,
    logger: o.logger,
    onCommit(committed, stats) {
      log.committed(committed);
      o.onFlush?.(stats);
    },
  });
  const log = createPgEventLog({ db, queue, fence, replicaId: o.replicaId, logger: o.logger });
  const commands = createPgCommandStore({ db, queue, fence, appending: log.appending });
  fence.onFenced((commandId) => {
    log.forget(commandId);
    commands.dropLive(commandId);
  });
  notifications.on(CHANNELS.events, log.notified);
  notifications.onReconnect(log.reconnected);

  let closing: Promise<void> | undefined;
  return {
    pool: db.pool,
    db,
    flushed: () => queue.flushed(),
    log,
    commands,
    idempotency: createPgIdempotency(db),
    fence,
    notifications,
    healthy: db.healthy,
    stats: () => ({ ...db.stats(), pendingBytes: queue.pendingBytes }),
    close() {
      closing ??= (async () => {
        await queue.close(CLOSE_WAIT_MS);
        log.releaseFollowers();
        await notifications.close();
        await db.end();
      })();
      return closing;
    },
  };
}
