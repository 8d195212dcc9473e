/**
 * How long the event loop is held while a Claude run writes one 64 MiB line without a newline
 * (issue 11 item 2): the real server as its own process (tsx, local backend, SQLite), the
 * stand-in `claude` with `[flood:N]`, and `/health` asked one request after another (10 ms apart)
 * from this process until the run ends. Prints the answers' worst, p99 and median per round, and
 * the server's own event-loop delay over the round (`nodejs_eventloop_lag_max_seconds` and p99 from
 * `/metrics`: prom-client's `monitorEventLoopDelay`, reset at each scrape).
 *
 *   npm run bench -- health   # BENCH_HEALTH_ROUNDS (3), BENCH_HEALTH_MIB (64)
 *
 * With `BENCH_HEALTH_PROFILE=<dir>` the server runs with `--cpu-prof` and writes its CPU profile there on exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { gqlData, untilProjectReady, waitFinal } from '../test/api/client.js';
import { claudeStandinEnv, floodDirective } from '../test/support/claude/index.js';
import { startServer } from '../test/durability/server-process.js';

const rounds = Number(process.env.BENCH_HEALTH_ROUNDS ?? 3);
const mib = Number(process.env.BENCH_HEALTH_MIB ?? 64);
const root = mkdtempSync(path.join(tmpdir(), 'rdev-bench-health-'));
const standin = claudeStandinEnv(path.join(root, 'claude-state'), {});
const profile = process.env.BENCH_HEALTH_PROFILE;
const server = await startServer({
  nodeArgs: profile ? ['--cpu-prof', `--cpu-prof-dir=${profile}`] : [],
  env: {
    RDEV_DATA_DIR: path.join(root, 'data'),
    RDEV_MAX_OUTPUT_BYTES: String(2 * mib * 1024 * 1024),
    PATH: `${standin.PATH}${path.delimiter}${process.env.PATH}`,
    CLAUDE_STANDIN_STATE: standin.CLAUDE_STANDIN_STATE!,
    RDEV_COMMAND_ENV: 'CLAUDE_STANDIN_STATE',
  },
});
const load = (): string => loadavg()[0]!.toFixed(2);
/** The server's event-loop delay since the last scrape, in ms. */
const loopLag = async (): Promise<{ max: string; p99: string }> => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const ms = (name: string): string => (Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000).toFixed(0);
  return { max: ms('nodejs_eventloop_lag_max_seconds'), p99: ms('nodejs_eventloop_lag_p99_seconds') };
};
console.log(`long-line-health: /health during a ${mib} MiB line without a newline (Claude run, local backend, SQLite); load at the start ${load()}`);
try {
  await untilProjectReady(server.url);
  for (let round = 1; round <= rounds; round++) {
    const prompt = `flood ${floodDirective(mib * 1024 * 1024)}`;
    const { runClaude } = await gqlData(server.url, `mutation($input: RunClaudeInput!) { runClaude(input: $input) { id } }`, {
      input: { projectId: 'demo', prompt },
    });
    await loopLag(); // resets the server's event-loop delay histogram
    const started = performance.now();
    const latencies: number[] = [];
    let ended = false;
    const finished = waitFinal(server.url, runClaude.id, 300_000).finally(() => (ended = true));
    while (!ended) {
      const t0 = performance.now();
      await (await fetch(`${server.url}/health`)).arrayBuffer();
      latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    const final = await finished;
    const lag = await loopLag();
    latencies.sort((a, b) => a - b);
    const at = (q: number): string => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(0);
    console.log(
      `  round ${round}: ${final.status} in ${((performance.now() - started) / 1000).toFixed(1)} s; ${latencies.length} answers: ` +
        `worst ${latencies.at(-1)!.toFixed(0)} ms, p99 ${at(0.99)} ms, median ${at(0.5)} ms, over 100 ms: ${latencies.filter((l) => l > 100).length}; ` +
        `server event-loop delay max ${lag.max} ms, p99 ${lag.p99} ms; load ${load()}`,
    );
  }
} finally {
  server.child.kill('SIGTERM');
  await server.exited;
  rmSync(root, { recursive: true, force: true });
}
