import { durabilityThroughput } from './durability-throughput.js';
import { pgstoreThroughput } from './pgstore-throughput.js';
import { replicasLatency } from './replicas-latency.js';
import { streamThroughput } from './stream-throughput.js';
import { supervisorThroughput } from './supervisor-throughput.js';
import { p3, p4 } from './wire-fanout.js';
import { p1, p2, p5, p6 } from './wire-rows.js';
import { startWire, type Wire } from './wire-setup.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function stream(): Promise<void> {
  const lines = Number(process.env.BENCH_LINES ?? 200_000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  console.log(`stream throughput: a ${lines}-line command (median of ${rounds} rounds)`);
  const runs = [];
  for (let i = 0; i < rounds; i++) runs.push(await streamThroughput(lines));
  const anchor = median(runs.map((r) => r[0]!.ms));
  for (let k = 0; k < runs[0]!.length; k++) {
    const ms = median(runs.map((r) => r[k]!.ms));
    const row = runs[0]![k]!;
    console.log(
      `  ${row.name.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / anchor).toFixed(1).padStart(6)}x ` +
        `anchor  ${row.events} events  ${((lines / ms) * 1000).toFixed(0)} lines/s`,
    );
  }
  const rss = process.memoryUsage().rss / 1024 / 1024;
  console.log(`  peak-ish RSS of the bench process after the runs: ${rss.toFixed(0)} MiB`);
}

async function durability(): Promise<void> {
  const lines = Number(process.env.BENCH_DURABILITY_LINES ?? 1_000_000);
  const rounds = Number(process.env.BENCH_DURABILITY_ROUNDS ?? 5);
  console.log(
    `durability throughput: a ${lines}-line command, mutation → CommandCompleted on a graphql-sse ` +
      `subscriber, server process per run (median of ${rounds} rounds each)`,
  );
  const runs = await durabilityThroughput(lines, rounds);
  const of = (store: string) => runs.filter((r) => r.store === store);
  const anchor = median(of('memory').map((r) => r.ms));
  for (const [store, name] of [
    ['memory', 'anchor: RDEV_STORE=memory (in-memory log)'],
    ['sqlite', 'RDEV_STORE=sqlite (history persisted)'],
  ] as const) {
    const mine = of(store);
    const ms = median(mine.map((r) => r.ms));
    console.log(
      `  ${name.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / anchor).toFixed(2).padStart(6)}x anchor  ${((lines / ms) * 1000).toFixed(0)} lines/s  ` +
        `server CPU ${median(mine.map((r) => r.serverCpuMs)).toFixed(0)} ms  ${mine[0]!.events} output ` +
        `events  (runs: ${mine.map((r) => r.ms.toFixed(0)).join(', ')} ms)`,
    );
  }
}

/**
 * Rows of issue 14 ("As fast as the wire"): one set of processes (`wire-setup.ts`) for every row
 * chosen, run in this order. P4 comes first: it reads the server's RSS growth, which the garbage
 * of a million-line row before it (a heap grown by 150 MiB, shrinking meanwhile) would swamp. P3
 * comes last: its 2,000 streams keep the processes busy after its figures are in (a P5 after it
 * measured both servers at a third of their rate).
 */
const WIRE_ROWS: Record<string, (w: Wire) => Promise<void>> = { p4, p1, p2, p5, p6, p3 };

async function wire(rows: string[]): Promise<void> {
  const { cpus, loadavg } = await import('node:os');
  console.log(`as fast as the wire (issue 14): ${rows.join(', ')}; ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)} (1 min) at the start`);
  const w = await startWire();
  try {
    for (const name of rows) {
      // A benchmark exits 0 whatever happens to one row: the others still report.
      await WIRE_ROWS[name]!(w).catch((err: unknown) => console.log(`${name.toUpperCase()}  failed: ${err instanceof Error ? err.message : String(err)}`));
    }
  } finally {
    await w.close();
  }
  console.log(`  load average at the end ${loadavg()[0]!.toFixed(2)} (1 min)`);
}

/**
 * `npm run bench [-- stream|durability|supervisor|replicas|pgstore|health|perf|p1 … p6 …]`: each benchmark prints absolute
 * numbers and ratios against its anchor, measured in the same run; `perf` is every row of issue 14.
 */
async function main(): Promise<void> {
  const benches: Record<string, () => Promise<void>> = {
    stream,
    durability,
    supervisor: supervisorThroughput,
    replicas: replicasLatency,
    pgstore: pgstoreThroughput,
    // Issue 11: /health while a Claude run writes one 64 MiB line (the module runs when imported).
    health: () => import('./long-line-health.js').then(() => undefined),
  };
  const chosen = process.argv.slice(2);
  const rows = Object.keys(WIRE_ROWS);
  for (const name of chosen)
    if (!benches[name] && !WIRE_ROWS[name] && name !== 'perf')
      throw new Error(`unknown benchmark ${name}; choose from ${[...Object.keys(benches), 'perf', ...rows].join(', ')}`);
  for (const [name, run] of Object.entries(benches)) if (chosen.length === 0 || chosen.includes(name)) await run();
  const wanted = chosen.length === 0 || chosen.includes('perf') ? rows : rows.filter((r) => chosen.includes(r));
  if (wanted.length > 0) await wire(wanted);
}

await main();
