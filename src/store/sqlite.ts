import type { Logger } from '../logger.js';
import type { EventLog } from '../runs/event-log.js';
import { createSqliteIdempotency, type IdempotencyStore } from './idempotency.js';
import { prune, type PrunePolicy, type PruneReport } from './retention.js';
import { startCheckpointer } from './checkpointer.js';
import { openDatabase } from './schema.js';
import { createSqliteCommandStore, type PrunedInfo, type SqliteCommandStore } from './sqlite-command-store.js';
import { createSqliteEventLog } from './sqlite-event-log.js';
import { WriteQueue, type FlushStats } from './write-queue.js';

export type { FlushStats } from './write-queue.js';
export type { PrunedInfo, SqliteCommandStore } from './sqlite-command-store.js';
export type { PrunePolicy, PruneReport } from './retention.js';
export { SCHEMA_VERSION } from './schema.js';

/** Where and how the store keeps history. */
export interface SqliteStoreOptions {
  /** The SQLite file (created if missing; `-wal` and `-shm` files sit beside it). */
  file: string;
  /**
   * How long an appended event may wait in memory before its batch is written. A SIGKILL loses at
   * most the events of the last `flushMs` (plus the time one batch takes to write); 0 writes
   * every append in its own transaction.
   * @default 50
   */
  flushMs?: number;
  /**
   * A batch is written at once when it holds this many events.
   * @default 10000
   */
  maxBatch?: number;
  /**
   * A batch is written at once when it holds this many output bytes: what one transaction holds the event loop
   * for (7–9 ms a MiB measured on this 2-core machine at a load of ~9.6).
   * @default 1048576 (1 MiB)
   */
  maxBatchBytes?: number;
  /** Where failed or slow batch writes are reported. */
  logger?: Logger;
  /** Called after each committed batch (metrics, tests), after the log's followers and `onDurable` listeners were told. */
  onFlush?: (stats: FlushStats) => void;
}

/** Command history in one SQLite file, behind the interfaces the run manager already uses. */
export interface SqliteStore {
  log: EventLog;
  commands: SqliteCommandStore;
  idempotency: IdempotencyStore;
  /** Deletes the output of finished commands, oldest first, until the rest is within `policy`. */
  prune(policy: PrunePolicy): PruneReport;
  /** What retention removed from a command's output; undefined for an unknown command. */
  prunedInfo(id: string): PrunedInfo | undefined;
  /** Writes everything appended or changed so far; throws if the write fails. */
  flush(): void;
  /** Writes what is pending (waiting followers get what this commits), ends waiting followers and closes the file. */
  close(): void;
}

/**
 * Opens the store in `options.file`: WAL, `synchronous = NORMAL`, prepared statements, and batched
 * writes. `log.append` numbers events in memory and returns at once; a batch is written in one
 * transaction every `flushMs`, when it is full, and at once when a command completes (its final
 * record and its `completed` event commit together). Reads and followers see an event only once
 * its batch has committed (see {@link EventLog}): at most `flushMs` after its append.
 */
export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const db = openDatabase(options.file);
  const checkpointer = startCheckpointer(db, options.file, { logger: options.logger });
  const queue = new WriteQueue(db, {
    flushMs: options.flushMs ?? 50,
    maxBatch: options.maxBatch ?? 10_000,
    maxBatchBytes: options.maxBatchBytes ?? 1024 * 1024,
    logger: options.logger,
    onFlush: (stats) => {
      // Readers see a batch once it has committed (the queue calls this only after a flush, when `log` exists).
      log.committed(stats.lastSeqs);
      options.onFlush?.(stats);
    },
  });
  const log = createSqliteEventLog(db, queue, { logger: options.logger });
  const commands = createSqliteCommandStore(db, queue);
  const idempotency = createSqliteIdempotency(db, queue);
  return {
    log,
    commands,
    idempotency,
    prune: (policy) => prune(db, queue, policy),
    prunedInfo: (id) => commands.prunedInfo(id),
    flush: () => queue.flush(),
    close() {
      if (queue.isClosed) return;
      try {
        queue.close();
      } finally {
        log.releaseFollowers();
        checkpointer.close();
        db.close();
      }
    },
  };
}
