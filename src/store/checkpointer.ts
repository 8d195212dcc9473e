import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../logger.js';

/**
 * Runs the WAL checkpoints of a SQLite file in a worker thread, on a connection of its own, so
 * that the event loop never waits for one. better-sqlite3 is synchronous: with SQLite's automatic
 * checkpoint, the commit that takes the WAL past 1000 pages copies the WAL into the database file
 * and syncs it before it returns, which held the loop for 100–250 ms under a command writing fast
 * (`bench/long-line-health.ts`). Here the main connection never checkpoints (`wal_autocheckpoint
 * = 0`) and the worker runs a PASSIVE checkpoint every `intervalMs`, which neither waits for nor
 * blocks the writer (https://www.sqlite.org/wal.html#ckpt, https://www.sqlite.org/c3ref/wal_checkpoint_v2.html).
 * Should the worker fail, the main connection checkpoints by itself again.
 */
export interface Checkpointer {
  /** Stops the worker (its connection closes with it); the main connection checkpoints by itself again. */
  close(): void;
}

/** Options of {@link startCheckpointer}. */
export interface CheckpointerOptions {
  /**
   * How often the worker checkpoints.
   * @default 200
   */
  intervalMs?: number;
  logger?: Logger | undefined;
}

/** SQLite's default `wal_autocheckpoint`, in pages: what the main connection goes back to without the worker. */
const AUTO_CHECKPOINT_PAGES = 1000;

/** The worker (CommonJS, evaluated): a PASSIVE checkpoint every `intervalMs` until the thread is terminated. */
const WORKER = `
const { workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 5000');
setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.intervalMs);
`;

/** Takes the checkpoints of `db` (open on `file`, in WAL mode) off the event loop. */
export function startCheckpointer(db: Database.Database, file: string, options: CheckpointerOptions = {}): Checkpointer {
  const module = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { module, file, intervalMs: options.intervalMs ?? 200 } });
  // Never what keeps the process alive.
  worker.unref();
  db.pragma('wal_autocheckpoint = 0');
  let closed = false;
  const fallBack = (why: string): void => {
    if (closed) return;
    closed = true;
    options.logger?.warn('store: the checkpoint worker stopped; the store checkpoints by itself again', { reason: why });
    if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
  };
  worker.on('error', (err) => fallBack(String(err)));
  worker.on('exit', (code) => fallBack(`exit ${code}`));
  return {
    close() {
      if (closed) return;
      closed = true;
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
      void worker.terminate();
    },
  };
}
