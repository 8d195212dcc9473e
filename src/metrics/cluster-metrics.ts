import { Counter, Gauge, type Registry } from 'prom-client';
import type { LeaseMetrics } from '../cluster/pg-coordinator.js';

/** What the replica metrics read at scrape time. */
export interface ClusterMetricsSources {
  /** Running commands whose lease this replica holds. */
  leasesHeld(): number;
  /** The database's statement counters since start. */
  stats(): { queries: number; errors: number; latencyMsSum: number; pendingBytes: number };
  /** Whether the database answers now. */
  healthy(): boolean;
}

/**
 * The figures of a replica on PostgreSQL, in `registry` beside the app's: leases held, take-overs,
 * and the database's health, statements, errors and latency (with `…_statements_total`, the mean).
 * Labels carry the replica's name only through the scrape's own `instance`.
 */
export function registerClusterMetrics(registry: Registry, sources: ClusterMetricsSources): LeaseMetrics {
  const registers = [registry];
  new Gauge({
    name: 'rdev_leases_held',
    help: 'Running commands whose lease this replica holds.',
    registers,
    collect() {
      this.set(sources.leasesHeld());
    },
  });
  const takeovers = new Counter({ name: 'rdev_lease_takeovers_total', help: 'Commands this replica took over from a replica whose lease ran out.', registers });
  new Gauge({
    name: 'rdev_database_up',
    help: '1 while PostgreSQL answers, 0 while it does not.',
    registers,
    collect() {
      this.set(sources.healthy() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'rdev_database_pending_bytes',
    help: 'Output held in memory, not yet written to PostgreSQL (grows while it is away; bounded).',
    registers,
    collect() {
      this.set(sources.stats().pendingBytes);
    },
  });
  // Cumulative figures kept by the store: each scrape adds what is new since the last one.
  const seen = { queries: 0, errors: 0, latencyMsSum: 0 };
  const cumulative = (name: string, help: string, key: keyof typeof seen, scale = 1): void => {
    new Counter({
      name,
      help,
      registers,
      collect() {
        const now = sources.stats()[key];
        if (now > seen[key]) this.inc((now - seen[key]) * scale);
        seen[key] = now;
      },
    });
  };
  cumulative('rdev_database_statements_total', 'Statements sent to PostgreSQL (BEGIN and COMMIT included).', 'queries');
  cumulative('rdev_database_errors_total', 'Statements PostgreSQL refused or could not be sent.', 'errors');
  cumulative('rdev_database_statement_seconds_total', 'Time spent waiting for PostgreSQL, summed over statements.', 'latencyMsSum', 1 / 1000);
  return { tookOver: () => takeovers.inc() };
}
