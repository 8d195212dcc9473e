import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-sse';
import { cpuMsOf } from './cpu.js';

/**
 * What persistence costs a fast command: an N-line command (`seq 1 N`) through the whole server
 * with its history in SQLite (RDEV_STORE=sqlite, the default) against the same with the in-memory
 * log (RDEV_STORE=memory, the anchor). Each run starts a fresh server process on a fresh data
 * directory, as `npm start` runs it, and times the mutation until a graphql-sse subscriber
 * (distinct connections, started as soon as the mutation answered) has CommandCompleted and
 * every byte of output. Rounds alternate the two stores so that neither always runs first.
 * {@link throughputRun} is the same run for any server environment (`pgstore-throughput.ts`).
 */

export type Store = 'memory' | 'sqlite';

/** What {@link throughputRun} measured. */
export interface ThroughputRun {
  /** Mutation sent → CommandCompleted received. */
  ms: number;
  linesPerSecond: number;
  /** CPU the server process used from the mutation to CommandCompleted (10 ms resolution). */
  serverCpuMs: number;
  /** CPU that the run's `otherCpuMs` counted over the same span (a PostgreSQL cluster), else 0. */
  otherCpuMs: number;
  /** Output events the subscriber received (the run manager coalesces lines into chunks). */
  events: number;
  /** The warn and error lines the server logged (at most {@link KEEP_WARNINGS}). */
  warnings: string[];
}

export interface DurabilityRun extends ThroughputRun {
  store: Store;
}

const root = path.resolve(import.meta.dirname, '..');
const SUBSCRIPTION = 'subscription($id: ID!) { commandEvents(id: $id) { __typename ... on CommandOutput { text } ... on CommandCompleted { status } } }';
/** Warn and error lines kept from a server's log. */
const KEEP_WARNINGS = 20;

/** `seq 1 N` writes this many bytes. */
function seqBytes(lines: number): number {
  let bytes = 0;
  for (let digits = 1, low = 1; low <= lines; digits++, low *= 10) bytes += (Math.min(lines, low * 10 - 1) - low + 1) * (digits + 1);
  return bytes;
}

/**
 * Starts `src/server.ts` in its own process; resolves with its URL once it logged the port.
 * The process is killed if it does not get that far. Its warn and error lines go to `warnings`.
 */
function startServer(env: Record<string, string>, warnings: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, PORT: '0', RDEV_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  let pending = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    if (log.length < 64 * 1024) log += text;
    pending += text;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (/"level":"(warn|error)"/.test(line) && warnings.length < KEEP_WARNINGS) warnings.push(line);
    }
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`the server did not start:\n${log}`)), 60_000);
    child.stderr!.on('data', function onData() {
      const port = /"msg":"listening".*?"port":(\d+)/.exec(log)?.[1];
      if (!port) return;
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      resolve({ child, url: `http://127.0.0.1:${port}` });
    });
    child.on('exit', (code) => fail(new Error(`the server exited (${code}) before listening:\n${log}`)));
  });
}

/** One run: a fresh server with `store`, one `seq 1 N` command, one subscriber. */
export async function durabilityRun(store: Store, lines: number): Promise<DurabilityRun> {
  return { store, ...(await throughputRun(store, { RDEV_STORE: store }, lines)) };
}

/**
 * One run: a fresh server process on a fresh data directory with `env` over its defaults, one
 * warm-up command, then one `seq 1 N` command timed until its subscriber has CommandCompleted
 * and every byte. `otherCpuMs` reads the CPU of processes beside the server that the run makes
 * work too (a database); `label` names the run in errors.
 */
export async function throughputRun(label: string, env: Record<string, string>, lines: number, otherCpuMs: () => number = () => 0): Promise<ThroughputRun> {
  const data = mkdtempSync(path.join(tmpdir(), 'rdev-bench-durability-'));
  const warnings: string[] = [];
  let server;
  try {
    server = await startServer({ RDEV_DATA_DIR: data, ...env }, warnings);
  } catch (err) {
    rmSync(data, { recursive: true, force: true });
    throw err;
  }
  const { child, url } = server;
  const client = createClient({ url: `${url}/graphql/stream`, retryAttempts: 0 });
  /** Runs `seq 1 n` and follows it to the end; returns what arrived. */
  const follow = async (n: number): Promise<{ bytes: number; events: number; status: string | undefined }> => {
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation($c: String!) { runShell(input: { projectId: "demo", command: $c }) { id } }', variables: { c: `seq 1 ${n}` } }),
    });
    const { data: answer, errors } = (await res.json()) as { data?: { runShell: { id: string } }; errors?: unknown };
    if (!answer) throw new Error(`runShell failed: ${JSON.stringify(errors)}`);
    let bytes = 0;
    let events = 0;
    let status: string | undefined;
    for await (const result of client.iterate({ query: SUBSCRIPTION, variables: { id: answer.runShell.id } })) {
      const event = result.data?.commandEvents as { __typename: string; text?: string; status?: string };
      if (event.__typename === 'CommandOutput') {
        bytes += event.text!.length;
        events++;
      } else if (event.__typename === 'CommandCompleted') status = event.status;
    }
    return { bytes, events, status };
  };
  try {
    await follow(10_000); // warm-up: the server's first command and subscription compile their code paths
    const cpuBefore = cpuMsOf(child.pid!);
    const otherBefore = otherCpuMs();
    const started = performance.now();
    const { bytes, events, status } = await follow(lines);
    const ms = performance.now() - started;
    const serverCpuMs = cpuMsOf(child.pid!) - cpuBefore;
    const otherMs = otherCpuMs() - otherBefore;
    if (status !== 'SUCCEEDED' || bytes !== seqBytes(lines)) throw new Error(`${label}: ended ${status} with ${bytes} of ${seqBytes(lines)} bytes`);
    return { ms, linesPerSecond: (lines / ms) * 1000, serverCpuMs, otherCpuMs: otherMs, events, warnings };
  } finally {
    client.dispose();
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    rmSync(data, { recursive: true, force: true });
  }
}

/** `rounds` runs of each store, alternating which goes first. */
export async function durabilityThroughput(lines: number, rounds: number): Promise<DurabilityRun[]> {
  const runs: DurabilityRun[] = [];
  for (let i = 0; i < rounds; i++) {
    const order: Store[] = i % 2 === 0 ? ['memory', 'sqlite'] : ['sqlite', 'memory'];
    for (const store of order) runs.push(await durabilityRun(store, lines));
  }
  return runs;
}
