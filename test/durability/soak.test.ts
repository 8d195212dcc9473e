// Short commands through the real server process (local backend, SQLite history), each followed
// to its end by a graphql-sse commandEvents subscriber, 20 at a time. After a warm-up, the server
// holds no more per command than a leak-free one: its heap after a forced full GC (read through
// the inspector) and its resident memory (VmRSS of /proc/<pid>/status) grow by at most
// HEAP_BYTES_PER_COMMAND / RSS_BYTES_PER_COMMAND for each command run after the warm-up, its open
// descriptors (sockets, pipes, files) are the same, and the subscriptions gauge of /metrics is 0.
//
// In `npm test`: 600 commands (300 of warm-up), sized for a 2-core machine that is busy with
// something else too. `npm run soak` runs 5,000 (SOAK_COMMANDS and SOAK_WARMUP change it). The
// per-command bounds hold at any size: a leak of one subscription, listener or closure per command
// (several KiB) fails them, where a budget in percent hid it in a short run.
//
// The server runs compiled (as the image runs it): the local executor forks the server for every
// command, and fork() copies page tables, so a ~120 MiB server manages ~130 commands a second
// where tsx's ~250 MiB one managed 65-85. The build is cached by the hash of its sources
// (test/durability/compiled-server.ts). The audit log's in-memory ring is held at 50 entries
// (RDEV_AUDIT_MEMORY_ENTRIES), full before the warm-up ends, so it does not count as growth.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_EVENTS, RUN_SHELL } from '../api/client.js';
import { compiledServer } from './compiled-server.js';
import { cpuSeconds, openFds, pollUntil, rssKiB, startServer, type ServerProcess } from './server-process.js';

const COMMANDS = Number(process.env.SOAK_COMMANDS ?? 600);
/** JIT, statement caches and the audit ring settle in the first few hundred commands. */
const WARMUP = Math.min(Number(process.env.SOAK_WARMUP ?? Math.max(300, Math.round(COMMANDS / 10))), COMMANDS - 1);
const CONCURRENCY = 20;
/**
 * Heap growth allowed per command after the warm-up. A leaked subscription, request context or
 * listener is several KiB; the heap after a full GC varies by about ±250 KiB from run to run,
 * which is ±0.9 KiB a command over 300 commands.
 */
const HEAP_BYTES_PER_COMMAND = 2048;
/** Resident memory growth allowed per command after the warm-up (malloc arenas make RSS noisier than the heap). */
const RSS_BYTES_PER_COMMAND = 16 * 1024;
/** Far above what the run needs here (600 commands under the supervisor: ~20 s idle, ~60 s on a busy machine). */
const TIMEOUT_MS = 120_000 + COMMANDS * 300;

let server: ServerProcess;
let dataDir: string;
let client: Client;
/** Sockets the server holds with no client connected (its listening socket and the inspector's). */
let idleSockets: number;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'rdev-soak-'));
  server = await startServer({
    compiledEntry: compiledServer(),
    env: {
      RDEV_DATA_DIR: dataDir,
      RDEV_AUDIT_MEMORY_ENTRIES: '50',
      RDEV_MAX_CONCURRENT_PER_PROJECT: String(CONCURRENCY),
      RDEV_MUTATIONS_PER_MINUTE: '0', // one caller starts thousands of commands a minute here
    },
    inspect: true,
  });
  idleSockets = openFds(server.pid).byKind.socket ?? 0;
  // Every request on its own connection, closed after the answer: with no idle keep-alive
  // connection left behind, the server's sockets at rest are exactly its own.
  client = createClient({ url: `${server.url}/graphql/stream`, retryAttempts: 0, headers: { connection: 'close' } });
}, 300_000);

afterAll(async () => {
  client?.dispose();
  await server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

type Event = { __typename: string; text?: string; status?: string; exitCode?: number | null };

/** Starts `echo n` with runShell; returns the command id. */
async function start(n: number): Promise<string> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', connection: 'close' },
    body: JSON.stringify({ query: RUN_SHELL, variables: { input: { projectId: 'demo', command: `echo ${n}` } } }),
  });
  const body = (await res.json()) as { data?: { runShell: { id: string } }; errors?: unknown };
  if (!body.data) throw new Error(`runShell answered ${res.status}: ${JSON.stringify(body.errors)}`);
  return body.data.runShell.id;
}

/** Runs `echo n` and follows it to CommandCompleted; returns what went wrong, or null. */
async function runOne(n: number): Promise<string | null> {
  const id = await start(n);
  const events: Event[] = [];
  for await (const result of client.iterate({ query: COMMAND_EVENTS, variables: { id } })) {
    if (result.errors) return `${id}: ${JSON.stringify(result.errors)}`;
    events.push(result.data!.commandEvents as Event);
  }
  const got = events.map((e) => (e.__typename === 'CommandOutput' ? `out:${e.text}` : `${e.__typename}:${e.status}:${e.exitCode}`));
  const want = [`out:${n}\n`, 'CommandCompleted:SUCCEEDED:0'];
  return got.join('|') === want.join('|') ? null : `${id} (echo ${n}): ${JSON.stringify(got)}`;
}

/** Runs commands `from`..`to`-1, `CONCURRENCY` at a time; returns the failures. */
async function runMany(from: number, to: number, onProgress: (done: number) => void): Promise<string[]> {
  const failures: string[] = [];
  let next = from;
  let done = from;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < to) {
        const n = next++;
        const failure = await runOne(n).catch((err: unknown) => `echo ${n}: ${String(err)}`);
        if (failure) failures.push(failure);
        onProgress(++done);
      }
    }),
  );
  return failures;
}

/**
 * The server at rest: no client connection left, then its descriptors, its heap after a full
 * collection, and its resident memory after that collection. (The client's fetch may hold one
 * connection it opened and never used for up to 4 s, its keep-alive timeout.)
 */
async function atRest(): Promise<{ rssKiB: number; heapKiB: number; fds: Record<string, number> }> {
  const fds = await pollUntil(
    'the server to hold no client connection',
    () => openFds(server.pid),
    (f) => (f.byKind.socket ?? 0) <= idleSockets,
    10_000,
    50,
  );
  const heap = await server.heapAfterGc();
  return { rssKiB: rssKiB(server.pid), heapKiB: heap.usedBytes / 1024, fds: fds.byKind };
}

async function subscriptionGauges(): Promise<Record<string, number>> {
  const res = await fetch(`${server.url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const gauges: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*subscription[a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+)$/.exec(line);
    if (m && !m[1]!.endsWith('_total')) gauges[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
  }
  if (Object.keys(gauges).length === 0) throw new Error('/metrics has no subscription gauge');
  return gauges;
}

describe(`soak: ${COMMANDS} short commands, each followed by a subscriber, ${CONCURRENCY} at a time`, () => {
  it(
    `all succeed with their output, and after the first ${WARMUP} memory grows by less than a leak's worth per command and descriptors do not grow`,
    async () => {
      const started = performance.now();
      const samples: string[] = [];
      const progress = (done: number): void => {
        if (done % Math.max(100, Math.round(COMMANDS / 10)) === 0) samples.push(`${done}: ${(rssKiB(server.pid) / 1024).toFixed(0)} MiB`);
      };
      const warmupFailures = await runMany(0, WARMUP, progress);
      const warmupMs = performance.now() - started;
      const base = await atRest();
      const runStarted = performance.now();
      const failures = await runMany(WARMUP, COMMANDS, progress);
      const runMs = performance.now() - runStarted;
      const end = await atRest();
      const gauges = await subscriptionGauges();

      const measured = COMMANDS - WARMUP;
      const rssPerCommand = ((end.rssKiB - base.rssKiB) * 1024) / measured;
      const heapPerCommand = ((end.heapKiB - base.heapKiB) * 1024) / measured;
      const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
      console.log(
        `soak: ${COMMANDS} commands in ${((warmupMs + runMs) / 1000).toFixed(1)} s of work ` +
          `(${(((COMMANDS - WARMUP) / runMs) * 1000).toFixed(0)} commands/s after warm-up; ` +
          `server CPU ${cpuSeconds(server.pid).toFixed(1)} s, ` +
          `test process CPU ${(process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6).toFixed(1)} s); ` +
          `after ${WARMUP} → after ${COMMANDS}, at rest: heap after GC ${mib(base.heapKiB)} → ${mib(end.heapKiB)} ` +
          `(${heapPerCommand.toFixed(0)} B a command, at most ${HEAP_BYTES_PER_COMMAND}), ` +
          `RSS ${mib(base.rssKiB)} → ${mib(end.rssKiB)} (${rssPerCommand.toFixed(0)} B a command, at most ${RSS_BYTES_PER_COMMAND}); ` +
          `while running: ${samples.join(', ')}; fds at rest ${JSON.stringify(base.fds)} → ${JSON.stringify(end.fds)}; ` +
          `subscription gauges: ${JSON.stringify(gauges)}`,
      );
      expect([...warmupFailures, ...failures].slice(0, 10)).toEqual([]);
      expect(end.fds).toEqual(base.fds);
      expect(heapPerCommand).toBeLessThanOrEqual(HEAP_BYTES_PER_COMMAND);
      expect(rssPerCommand).toBeLessThanOrEqual(RSS_BYTES_PER_COMMAND);
      expect(gauges).toEqual(Object.fromEntries(Object.keys(gauges).map((k) => [k, 0])));
    },
    TIMEOUT_MS,
  );
});
