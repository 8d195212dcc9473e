import { cpus, loadavg } from 'node:os';
import { startPostgres } from '../test/support/postgres.js';
import { treeCpuMs } from './cpu.js';
import { throughputRun, type ThroughputRun } from './durability-throughput.js';

/**
 * What the shared store costs a fast command: the durability bench's run (`seq 1 N` through a
 * fresh server process, mutation → CommandCompleted on a graphql-sse subscriber with every byte)
 * with the history in PostgreSQL (RDEV_DATABASE_URL: one replica on a fresh database of a
 * throwaway cluster, fsync off as in the tests) against SQLite, the default store, as the anchor.
 * Rounds alternate which store goes first. The server's CPU is printed, and for PostgreSQL the
 * cluster's CPU (every backend, from the postmaster's process tree) beside it: with SQLite the
 * database work is inside the server process.
 *
 *     npm run bench -- pgstore    # BENCH_PGSTORE_ROUNDS (default 3), BENCH_PGSTORE_LINES (default 1000000)
 */

type StoreName = 'sqlite' | 'postgres';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function pgstoreThroughput(): Promise<void> {
  const lines = Number(process.env.BENCH_PGSTORE_LINES ?? 1_000_000);
  const rounds = Number(process.env.BENCH_PGSTORE_ROUNDS ?? 3);
  console.log(
    `pgstore throughput: a ${lines}-line command, mutation → CommandCompleted on a graphql-sse subscriber, server process per run, ` +
      `PostgreSQL on a fresh database per run (median of ${rounds} rounds each); load average at ` +
      `the start ${loadavg()[0]!.toFixed(2)} (1 min, ${cpus().length} cores)`,
  );
  const cluster = await startPostgres({ database: 'pgstore_bench' });
  const runs: Record<StoreName, ThroughputRun[]> = { sqlite: [], postgres: [] };
  try {
    for (let i = 0; i < rounds; i++) {
      const order: StoreName[] = i % 2 === 0 ? ['sqlite', 'postgres'] : ['postgres', 'sqlite'];
      for (const store of order) {
        if (store === 'sqlite') runs.sqlite.push(await throughputRun('sqlite', {}, lines));
        else {
          const url = await cluster.createDatabase(`pgstore_${i}`);
          runs.postgres.push(await throughputRun('postgres', { RDEV_DATABASE_URL: url, RDEV_REPLICA_ID: 'bench' }, lines, () => treeCpuMs(cluster.pid!)));
        }
      }
    }
  } finally {
    await cluster.remove();
  }
  const anchor = median(runs.sqlite.map((r) => r.ms));
  for (const [store, name] of [
    ['sqlite', 'anchor: SQLite (the default store)'],
    ['postgres', 'PostgreSQL (RDEV_DATABASE_URL, one replica)'],
  ] as const) {
    const mine = runs[store];
    const ms = median(mine.map((r) => r.ms));
    const database = store === 'postgres' ? ` + PostgreSQL CPU ${median(mine.map((r) => r.otherCpuMs)).toFixed(0)} ms` : '';
    console.log(
      `  ${name.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / anchor).toFixed(2).padStart(6)}x anchor  ${((lines / ms) * 1000).toFixed(0)} lines/s  ` +
        `server CPU ${median(mine.map((r) => r.serverCpuMs)).toFixed(0)} ms${database}  ${mine[0]!.events} ` +
        `output events  (runs: ${mine.map((r) => r.ms.toFixed(0)).join(', ')} ms)`,
    );
  }
  const warnings = Object.values(runs).flatMap((rs) => rs.flatMap((r) => r.warnings));
  console.log(`  server warn/error log lines: ${warnings.length}${warnings.length ? `; first: ${warnings[0]}` : ''}`);
}
