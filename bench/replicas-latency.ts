import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-sse';
import { cpuMsOf, treeCpuMs } from './cpu.js';
import { PROJECT, startFleet, type Deployment, type Fleet } from './replica-fleet.js';

/**
 * What a second and third replica cost a live subscriber: one command printing its clock every
 * 50 ms (`date +%s%3N` in a sh loop, in the pod of the Kubernetes API test server, so on this
 * machine's clock), followed by many graphql-sse subscribers with `commandEvents(id:, after: 0)`.
 * A line's delivery latency is the time this process received it minus the timestamp it carries.
 *
 * The subscribers join before the clock starts: the command prints `ready`, then waits for a
 * file this process creates once every subscriber has received that line. They join in waves of
 * {@link WAVE} (the next wave once the last has its `ready`): opened all at once, 1,000
 * connections overflow the server's listen queue (Node's backlog of 511 while its event loop is
 * busy), and the dropped connects are retried by the kernel after 1, 3, 7… s, which would make
 * the join, not the delivery, what the figures show. The join time is printed beside them.
 *
 * - anchor: every subscriber on ONE replica (one server process on PostgreSQL);
 * - then the same subscribers spread evenly over THREE replicas on one database, the command
 *   started on the first (`a`): on `b` and `c` the lines come through PostgreSQL (NOTIFY, then a
 *   read by seq).
 *
 * The subscribers are graphql-sse clients in distinct-connections mode (the client's default):
 * each subscriber is its own HTTP request on its own socket, as many separate viewers would be;
 * one client per replica, the same setup on both sides. They all run in this process, so its
 * CPU (printed) is part of what a line waits for. Lines stamped in the first second of the
 * clock are left out of the latency figures (warm-up: every stream wakes at once from idle).
 * Both deployments are up for the whole bench, each warmed up with one
 * short command; rounds alternate which goes first; the percentiles are over every measured line
 * of every round (BENCH_REPLICAS_ROUNDS, default 2), each round's beside them.
 *
 *     npm run bench -- replicas   # BENCH_REPLICAS_ROUNDS (2), BENCH_REPLICAS_SUBSCRIBERS (1000), BENCH_REPLICAS_LINES (200)
 */

const SUBSCRIPTION =
  'subscription($id: ID!) { commandEvents(id: $id, after: 0) { __typename ... on CommandOutput { text } ... on CommandCompleted { status } } }';
/** Lines stamped this long after the command's first line are measured. */
const WARMUP_MS = 1_000;
/** Subscribers opened at once. */
const WAVE = 100;
/** What the replicas run with besides the fleet's defaults. */
const ENV = { RDEV_MAX_SUBSCRIPTIONS_PER_TOKEN: '5000', RDEV_MUTATIONS_PER_MINUTE: '0' };

interface Round {
  /** Delivery latency (ms) of every line received after the warm-up, by the replica its subscriber was on. */
  latencies: number[][];
  /** Lines received (all subscribers), and how many there should be. */
  lines: number;
  expectedLines: number;
  /** Output events received (a replica may carry several lines in one). */
  events: number;
  /** Mutation answered → every subscriber had the command's `ready` line. */
  joinMs: number;
  replicasCpuMs: number;
  postgresCpuMs: number;
  benchCpuMs: number;
}

/** A whole number from the environment, at least 1. */
function count(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${process.env[name]}: must be a whole number of at least 1`);
  return value;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** p50, p99 and max of `xs` (nearest rank). */
function percentiles(xs: number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(xs).sort();
  const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1)! };
}

async function runShell(url: string, command: string): Promise<string> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: `mutation($c: String!) { runShell(input: { projectId: "${PROJECT}", command: $c }) { id } }`, variables: { c: command } }),
  });
  const { data, errors } = (await res.json()) as { data?: { runShell: { id: string } }; errors?: unknown };
  if (!data) throw new Error(`runShell failed: ${JSON.stringify(errors)}`);
  return data.runShell.id;
}

/**
 * One command of `lines` clock lines on the first replica, `subscribers` spread over all of them
 * (subscriber i on replica i mod n), followed to CommandCompleted; `signals` is where the go file goes.
 */
async function round(deployment: Deployment, postgresPid: number, subscribers: number, lines: number, signals: string): Promise<Round> {
  const { replicas } = deployment;
  const go = path.join(signals, `go-${deployment.name}-${Date.now()}`);
  const command = `echo ready; while [ ! -e ${go} ]; do sleep 0.01; done; i=0; while [ $i -lt ${lines} ]; do date +%s%3N; sleep 0.05; i=$((i+1)); done`;
  const clients = replicas.map((r) => createClient({ url: `${r.url}/graphql/stream`, retryAttempts: 0 }));
  const latencies: number[][] = replicas.map(() => []);
  let received = 0;
  let events = 0;
  const cpu = { replicas: replicas.reduce((sum, r) => sum + cpuMsOf(r.pid), 0), postgres: treeCpuMs(postgresPid), bench: process.cpuUsage() };
  let timer: NodeJS.Timeout | undefined;
  let joinMs = 0;
  try {
    const id = await runShell(replicas[0]!.url, command);
    const answered = performance.now();
    let failed: (err: Error) => void = () => {};
    const failure = new Promise<never>((_, reject) => (failed = reject));
    failure.catch(() => {}); // a failure after the races (a stream cut by dispose) is not unhandled
    const timeoutMs = lines * 50 + 90_000;
    timer = setTimeout(
      () => failed(new Error(`${deployment.name}: not every subscriber completed within ${timeoutMs} ms (${received} of ${subscribers * lines} lines)`)),
      timeoutMs,
    );
    /** Subscriber i: resolves `ready` on the command's first line, `done` on CommandCompleted; fails the round on an error. */
    const subscribe = (i: number): { ready: Promise<void>; done: Promise<void> } => {
      const on = i % replicas.length;
      const fail = (why: string) => failed(new Error(`subscriber ${i} on ${replicas[on]!.id}: ${why}`));
      let isReady: () => void = () => {};
      const ready = new Promise<void>((r) => (isReady = r));
      let status: string | undefined;
      let first: number | undefined;
      const done = new Promise<void>((resolve) => {
        clients[on]!.subscribe(
          { query: SUBSCRIPTION, variables: { id } },
          {
            next(result) {
              const now = Date.now();
              if (result.errors) return fail(JSON.stringify(result.errors));
              const event = result.data!.commandEvents as { __typename: string; text?: string; status?: string };
              if (event.__typename === 'CommandCompleted') status = event.status;
              if (event.__typename !== 'CommandOutput') return;
              events++;
              for (const line of event.text!.split('\n')) {
                if (line === 'ready') isReady();
                if (line === 'ready' || line === '') continue;
                const at = Number(line);
                if (!Number.isInteger(at)) return fail(`not a timestamp: ${JSON.stringify(line)}`);
                first ??= at;
                received++;
                if (at - first >= WARMUP_MS) latencies[on]!.push(now - at);
              }
            },
            error: (err) => fail(err instanceof Error ? err.message : JSON.stringify(err)),
            complete: () => (status === 'SUCCEEDED' ? resolve() : fail(`the stream ended with ${status ?? 'no CommandCompleted'}`)),
          },
        );
      });
      return { ready, done };
    };
    const followers: Array<Promise<void>> = [];
    for (let i = 0; i < subscribers; i += WAVE) {
      const wave = Array.from({ length: Math.min(WAVE, subscribers - i) }, (_, k) => subscribe(i + k));
      followers.push(...wave.map((s) => s.done));
      await Promise.race([Promise.all(wave.map((s) => s.ready)), failure]);
    }
    joinMs = performance.now() - answered;
    writeFileSync(go, '');
    await Promise.race([Promise.all(followers), failure]);
  } finally {
    clearTimeout(timer);
    for (const client of clients) client.dispose();
    if (existsSync(go)) rmSync(go);
  }
  const bench = process.cpuUsage(cpu.bench);
  return {
    latencies,
    lines: received,
    expectedLines: subscribers * lines,
    events,
    joinMs,
    replicasCpuMs: replicas.reduce((sum, r) => sum + cpuMsOf(r.pid), 0) - cpu.replicas,
    postgresCpuMs: treeCpuMs(postgresPid) - cpu.postgres,
    benchCpuMs: (bench.user + bench.system) / 1000,
  };
}

/** Prints a deployment's pooled percentiles, each round's, and what a round cost; returns the pooled ones. */
function report(name: string, rounds: Round[]): { p50: number; p99: number } {
  const pooled = percentiles(rounds.flatMap((r) => r.latencies.flat()));
  const each = rounds.map((r) => percentiles(r.latencies.flat()));
  const avg = (f: (r: Round) => number) => mean(rounds.map(f)).toFixed(0);
  console.log(
    `  ${name.padEnd(50)} p50 ${pooled.p50.toFixed(0).padStart(4)} ms  p99 ${pooled.p99.toFixed(0).padStart(4)} ` +
      `ms  max ${pooled.max.toFixed(0).padStart(4)} ms  ` +
      `(rounds: p50 ${each.map((x) => x.p50).join(', ')} ms; p99 ${each.map((x) => x.p99).join(', ')} ms)`,
  );
  console.log(
    `      lines received ${rounds.reduce((n, r) => n + r.lines, 0)} of ${rounds.reduce((n, r) => n + r.expectedLines, 0)} ` +
      `in ${rounds.reduce((n, r) => n + r.events, 0)} output events; ` +
      `a round on average: join ${avg((r) => r.joinMs)} ms, CPU replicas ${avg((r) => r.replicasCpuMs)} ` +
      `ms, PostgreSQL ${avg((r) => r.postgresCpuMs)} ms, bench process ${avg((r) => r.benchCpuMs)} ` +
      `ms`,
  );
  return pooled;
}

export async function replicasLatency(): Promise<void> {
  const rounds = count('BENCH_REPLICAS_ROUNDS', 2);
  const subscribers = count('BENCH_REPLICAS_SUBSCRIBERS', 1000);
  const lines = count('BENCH_REPLICAS_LINES', 200);
  console.log(
    `replicas: one command printing its clock every 50 ms (${lines} lines), followed by ${subscribers} graphql-sse subscribers ` +
      `(distinct connections, commandEvents after: 0, joined before the clock starts); kube backend, ` +
      `PostgreSQL; latency = receive time − the line's timestamp, ` +
      `lines of the first ${WARMUP_MS} ms left out (warm-up); percentiles over the lines of ${rounds} ` +
      `rounds; load average at the start ${loadavg()[0]!.toFixed(2)}`,
  );
  let fleet: Fleet | undefined;
  const signals = mkdtempSync(path.join(tmpdir(), 'rdev-bench-go-'));
  const results: Record<'one' | 'three', Round[]> = { one: [], three: [] };
  let warnings: Array<{ id: string; count: number; lines: string[] }> = [];
  try {
    fleet = await startFleet();
    const deployments = { one: await fleet.deploy('one', ['a'], ENV), three: await fleet.deploy('three', ['a', 'b', 'c'], ENV) };
    const pgPid = fleet.postgres.pid!;
    for (const deployment of Object.values(deployments)) await round(deployment, pgPid, WAVE, 30, signals); // warm-up, not counted
    for (let i = 0; i < rounds; i++) {
      for (const key of i % 2 === 0 ? (['one', 'three'] as const) : (['three', 'one'] as const))
        results[key].push(await round(deployments[key], pgPid, subscribers, lines, signals));
    }
    warnings = Object.values(deployments).flatMap((d) => d.replicas.map((r) => ({ id: r.id, ...r.warnings })));
  } finally {
    await fleet?.close();
    rmSync(signals, { recursive: true, force: true });
  }
  const split = [0, 1, 2].map((k) => Math.floor((subscribers + 2 - k) / 3)).join('/');
  const one = report(`anchor: 1 replica, ${subscribers} subscribers on it`, results.one);
  const three = report(`3 replicas (${split} subscribers), command on a`, results.three);
  const byReplica = [0, 1, 2].map((k) => percentiles(results.three.flatMap((r) => r.latencies[k]!)));
  console.log(`      by replica a / b / c: p50 ${byReplica.map((x) => x.p50).join(' / ')} ms  p99 ${byReplica.map((x) => x.p99).join(' / ')} ms`);
  console.log(`  ratio three/one: p50 ${(three.p50 / one.p50).toFixed(2)}x  p99 ${(three.p99 / one.p99).toFixed(2)}x`);
  console.log(`  load average at the end ${loadavg()[0]!.toFixed(2)} (1 min, ${cpus().length} cores)`);
  for (const w of warnings) {
    console.log(`  replica ${w.id}: ${w.count} warn/error log lines`);
    const distinct = new Map<string, number>();
    for (const line of w.lines) {
      const key = line
        .replace(/^\(node:\d+\) /, '')
        .replace(/"time":"[^"]*",/, '')
        .slice(0, 300);
      distinct.set(key, (distinct.get(key) ?? 0) + 1);
    }
    for (const [line, n] of distinct) console.log(`      ${n}× ${line}`);
  }
}
