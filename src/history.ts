import path from 'node:path';
import { openCluster, type ClusterParts } from './cluster/open-cluster.js';
import { prunePg } from './cluster/pg-retention.js';
import type { PruneReport } from './store/retention.js';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createMemoryCommandStore, type CommandStore } from './runs/command-store.js';
import type { EventLog } from './runs/event-log.js';
import { createMemoryEventLog } from './runs/memory-event-log.js';
import { createMemoryIdempotency, type IdempotencyStore } from './store/idempotency.js';
import { openSqliteStore } from './store/sqlite.js';

/**
 * Where command history lives: PostgreSQL shared by replicas (RDEV_DATABASE_URL), SQLite in the
 * data directory, or memory (RDEV_STORE=memory).
 */
export interface History {
  log: EventLog;
  commands: CommandStore;
  idempotency: IdempotencyStore;
  /** With PostgreSQL: the parts replicas share (coordinator, rate limit, audit log, readiness, metrics). */
  cluster?: ClusterParts | undefined;
  close(): Promise<void>;
}

/** How often retention runs. */
const PRUNE_EVERY_MS = 10 * 60 * 1000;

/**
 * Opens the history store. SQLite or PostgreSQL: prunes by age and size now and every 10 minutes, never a
 * command that is not finished (what a previous server left running is adopted by the run manager).
 */
export async function openHistory(config: Readonly<Config>, logger: Logger, supplied: { log?: EventLog; store?: CommandStore } = {}): Promise<History> {
  if (supplied.log || supplied.store || config.store === 'memory') {
    return {
      log: supplied.log ?? createMemoryEventLog(),
      commands: supplied.store ?? createMemoryCommandStore(),
      idempotency: createMemoryIdempotency(),
      close: async () => {},
    };
  }
  if (config.databaseUrl) {
    const cluster = await openCluster(config, logger);
    const stop = everyPruneInterval(logger, () => prunePg(cluster.store.db, retentionPolicy(config)));
    return {
      log: cluster.store.log,
      commands: cluster.store.commands,
      idempotency: cluster.store.idempotency,
      cluster,
      close: async () => {
        stop();
        await cluster.close();
      },
    };
  }
  const file = path.join(config.dataDir, 'rdev.sqlite');
  const store = openSqliteStore({ file, flushMs: config.flushMs, logger });
  // The query takes finished commands only (a RUNNING one a previous server left is adopted,
  // never pruned); `isRunning` guards against one finishing in memory meanwhile.
  const stop = everyPruneInterval(logger, async () => store.prune({ ...retentionPolicy(config), isRunning: (id) => store.commands.isLive(id) }));
  return {
    log: store.log,
    commands: store.commands,
    idempotency: store.idempotency,
    async close() {
      stop();
      store.close();
    },
  };
}

/** What RDEV_RETENTION_DAYS and RDEV_RETENTION_MAX_BYTES ask to keep (0: no limit). */
function retentionPolicy(config: Readonly<Config>): { maxAgeMs: number | undefined; maxOutputBytes: number | undefined } {
  return {
    maxAgeMs: config.retentionDays > 0 ? config.retentionDays * 86_400_000 : undefined,
    maxOutputBytes: config.retentionMaxBytes > 0 ? config.retentionMaxBytes : undefined,
  };
}

/** Runs `prune` now and every {@link PRUNE_EVERY_MS} (one at a time), logging what it removed; returns the stop. */
function everyPruneInterval(logger: Logger, prune: () => Promise<PruneReport>): () => void {
  let running = false;
  const run = (): void => {
    if (running) return;
    running = true;
    prune()
      .then((report) => {
        if (report.commands > 0) logger.info('retention pruned command output', { ...report });
      })
      .catch((err: unknown) => logger.error('retention failed', { err: String(err) }))
      .finally(() => (running = false));
  };
  run();
  const timer = setInterval(run, PRUNE_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
