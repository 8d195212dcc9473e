import { streamThroughput } from './stream-throughput.js';

/** `npm run bench`: each benchmark prints absolute numbers and ratios against its anchor, measured in the same run. */
async function main(): Promise<void> {
  const lines = Number(process.env.BENCH_LINES ?? 200_000);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  console.log(`stream throughput: a ${lines}-line command (median of ${rounds} rounds)`);
  const runs = [];
  for (let i = 0; i < rounds; i++) runs.push(await streamThroughput(lines));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const anchor = median(runs.map((r) => r[0]!.ms));
  for (let k = 0; k < runs[0]!.length; k++) {
    const ms = median(runs.map((r) => r[k]!.ms));
    const row = runs[0]![k]!;
    console.log(`  ${row.name.padEnd(48)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / anchor).toFixed(1).padStart(6)}x anchor  ${row.events} events  ${((lines / ms) * 1000).toFixed(0)} lines/s`);
  }
  const rss = process.memoryUsage().rss / 1024 / 1024;
  console.log(`  peak-ish RSS of the bench process after the runs: ${rss.toFixed(0)} MiB`);
}

await main();
