import path from 'node:path';
import { openCluster, type ClusterParts } from './cluster/open-cluster.js';
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
  /** When retention deleted a command's output, and how much. */
  prunedInfo(id: string): { prunedAt: Date | null; prunedEvents: number; prunedBytes: number } | undefined;
  /** With PostgreSQL: the parts replicas share (coordinator, rate limit, audit log, readiness, metrics). */
  cluster?: ClusterParts | undefined;
  close(): Promise<void>;
}

/** How often retention runs. */
const PRUNE_EVERY_MS = 10 * 60 * 1000;

/**
 * Opens the history store. SQLite: prunes by age and size now and every 10 minutes, never a
 * command that is not finished (what a previous server left running is adopted by the run manager).
 */
export async function openHistory(
  config: Readonly<Config>,
  logger: Logger,
  supplied: { log?: EventLog; store?: CommandStore } = {},
): Promise<History> {
  if (supplied.log || supplied.store || config.store === 'memory') {
    return {
      log: supplied.log ?? createMemoryEventLog(),
      commands: supplied.store ?? createMemoryCommandStore(),
      idempotency: createMemoryIdempotency(),
      prunedInfo: () => undefined,
      close: async () => {},
    };
  }
  if (config.databaseUrl) {
    const cluster = await openCluster(config, logger);
    return {
      log: cluster.store.log,
      commands: cluster.store.commands,
      idempotency: cluster.store.idempotency,
      prunedInfo: () => undefined,
      cluster,
      close: () => cluster.close(),
    };
  }
  const file = path.join(config.dataDir, 'rdev.sqlite');
  const store = openSqliteStore({ file, flushMs: config.flushMs, logger });
  const prune = (): void => {
    try {
      const report = store.prune({
        maxAgeMs: config.retentionDays > 0 ? config.retentionDays * 86_400_000 : undefined,
        maxOutputBytes: config.retentionMaxBytes > 0 ? config.retentionMaxBytes : undefined,
        // The query already takes finished commands only (a RUNNING one a previous server left is
        // adopted, never pruned); this guards against one finishing in memory meanwhile.
        isRunning: (id) => store.commands.isLive(id),
      });
      if (report.commands > 0) logger.info('retention pruned command output', { ...report });
    } catch (err) {
      logger.error('retention failed', { err: String(err) });
    }
  };
  prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  return {
    log: store.log,
    commands: store.commands,
    idempotency: store.idempotency,
    prunedInfo: (id) => store.prunedInfo(id),
    async close() {
      clearInterval(timer);
      store.close();
    },
  };
}
