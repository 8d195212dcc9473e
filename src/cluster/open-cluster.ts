import type { AuditLog } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { registerClusterMetrics } from '../metrics/cluster-metrics.js';
import type { Coordinator } from '../runs/coordinator.js';
import type { CoordinatorHooks } from '../runs/run-manager.js';
import { openPgStore, type PgStore } from '../store/postgres/index.js';
import { createPgAuditLog } from './pg-audit-log.js';
import { PgCoordinator } from './pg-coordinator.js';
import { createPgRateLimiter, type AsyncRateLimiter } from './pg-rate-limiter.js';
import { waitForDatabase } from './wait-for-database.js';
import type { Registry } from 'prom-client';

/** What a replica on PostgreSQL brings beside its stores: the shared coordinator, rate limit, audit log, readiness and metrics. */
export interface ClusterParts {
  store: PgStore;
  coordinator(hooks: CoordinatorHooks): Coordinator;
  rateLimiter: AsyncRateLimiter;
  audit: AuditLog;
  /** 503 on /ready while PostgreSQL does not answer (/health stays 200). */
  readiness(): { ready: boolean; reason?: string };
  /** Adds the lease and database figures to `/metrics`. */
  registerMetrics(registry: Registry): void;
  /** Hands the leases of detached commands over, then writes what is pending and closes the store. */
  close(): Promise<void>;
}

/**
 * Opens the PostgreSQL of `config.databaseUrl` (migrating it under an advisory lock; waiting up to
 * `config.databaseWaitSeconds` for it to answer) and builds this replica's parts on it. See DESIGN.md "Replicas".
 */
export async function openCluster(config: Readonly<Config>, logger: Logger): Promise<ClusterParts> {
  const pgLogger = logger.child({ component: 'postgres' });
  const store = await waitForDatabase(() => openPgStore({ url: config.databaseUrl!, replicaId: config.replicaId, flushMs: config.flushMs, logger: pgLogger }), {
    waitSeconds: config.databaseWaitSeconds,
    logger: pgLogger,
  });
  let coordinator: PgCoordinator | undefined;
  let tookOver = (): void => {};
  return {
    store,
    coordinator(hooks) {
      coordinator = new PgCoordinator({
        ...hooks,
        store,
        owner: { replicaId: config.replicaId, leaseSeconds: config.leaseSeconds },
        limits: config,
        logger: logger.child({ component: 'leases' }),
        metrics: { tookOver: () => tookOver() },
      });
      return coordinator;
    },
    rateLimiter: createPgRateLimiter(store.db, config.mutationsPerMinute),
    audit: createPgAuditLog(store.db, logger.child({ component: 'audit' })),
    readiness: () => (store.healthy() ? { ready: true } : { ready: false, reason: 'PostgreSQL (RDEV_DATABASE_URL) does not answer' }),
    registerMetrics(registry) {
      const m = registerClusterMetrics(registry, {
        leasesHeld: () => coordinator?.leasesHeld() ?? 0,
        stats: () => store.stats(),
        healthy: () => store.healthy(),
      });
      tookOver = () => m.tookOver();
    },
    async close() {
      try {
        // The leases go only after the detached commands' last events are in: a taker-over resumes after them.
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<'gave up'>((resolve) => (timer = setTimeout(() => resolve('gave up'), 5000)));
        const flushed = await Promise.race([store.flushed().then(() => 'flushed' as const), gaveUp]);
        clearTimeout(timer);
        if (flushed === 'flushed') await coordinator?.releaseLeases();
      } catch (err) {
        logger.warn('could not hand the leases over (they run out by themselves)', { err: String(err) });
      }
      await store.close();
    },
  };
}
