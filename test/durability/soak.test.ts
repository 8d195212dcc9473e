// Short commands through the real server process (local backend, SQLite history), each followed
// to its end by a graphql-sse commandEvents subscriber, 20 at a time. Afterwards the server holds
// no more than it did after the first 500: its heap after a forced full GC (read through the
// inspector) and its resident memory (VmRSS of /proc/<pid>/status) are at most 10 % above that
// level, its open descriptors (sockets, pipes, files) are the same, and the subscriptions gauge of
// /metrics is 0.
//
// 5,000 commands (SOAK_COMMANDS to change it). The server runs compiled (`node .soak-build/server.js`,
// as the image runs it): the local executor forks the server for every command, and fork() copies
// page tables, so a ~120 MiB server manages ~130 commands a second where tsx's ~250 MiB one managed
// 65-85. The audit log keeps its newest 2,000 entries in memory (~1 KiB each; the file keeps all).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type Client } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_EVENTS, RUN_SHELL } from '../api/client.js';
import { cpuSeconds, openFds, pollUntil, rssKiB, startServer, type ServerProcess } from './server-process.js';

const COMMANDS = Number(process.env.SOAK_COMMANDS ?? 5000);
const WARMUP = Math.min(500, COMMANDS);
const CONCURRENCY = 20;

const ROOT = path.resolve(import.meta.dirname, '../..');
const BUILD = path.join(ROOT, '.soak-build');
let server: ServerProcess;
let dataDir: string;
let client: Client;
/** Sockets the server holds with no client connected (its listening socket and the inspector's). */
let idleSockets: number;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'rdev-soak-'));
  // The server as the image runs it (compiled), inside the repository so that node_modules resolves.
  rmSync(BUILD, { recursive: true, force: true });
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', BUILD]);
  server = await startServer({
    compiledEntry: path.join(BUILD, 'server.js'),
    env: {
      RDEV_DATA_DIR: dataDir,
      RDEV_MAX_CONCURRENT_PER_PROJECT: String(CONCURRENCY),
      RDEV_MUTATIONS_PER_MINUTE: '0', // one caller starts thousands of commands a minute here
    },
    inspect: true,
  });
  idleSockets = openFds(server.pid).byKind.socket ?? 0;
  // Every request on its own connection, closed after the answer: with no idle keep-alive
  // connection left behind, the server's sockets at rest are exactly its own.
  client = createClient({ url: `${server.url}/graphql/stream`, retryAttempts: 0, headers: { connection: 'close' } });
}, 60_000);

afterAll(async () => {
  client?.dispose();
  await server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(BUILD, { recursive: true, force: true });
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
  const fds = await pollUntil('the server to hold no client connection', () => openFds(server.pid), (f) => (f.byKind.socket ?? 0) <= idleSockets, 10_000, 50);
  const heap = await server.heapAfterGc();
  return { rssKiB: rssKiB(server.pid), heapKiB: heap.usedBytes / 1024, fds: fds.byKind };
}

async function subscriptionGauges(): Promise<Record<string, number> | null> {
  const res = await fetch(`${server.url}/metrics`);
  if (res.status !== 200) return null;
  const gauges: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*subscription[a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+)$/.exec(line);
    if (m && !m[1]!.endsWith('_total')) gauges[`${m[1]}${m[2] ?? ''}`] = Number(m[3]);
  }
  return Object.keys(gauges).length > 0 ? gauges : null;
}

describe(`soak: ${COMMANDS} short commands, each followed by a subscriber, ${CONCURRENCY} at a time`, () => {
  it('all succeed with their output, and afterwards memory and descriptors are back at the level after the first 500', async () => {
    const started = performance.now();
    const samples: string[] = [];
    const progress = (done: number): void => {
      if (done % 500 === 0) samples.push(`${done}: ${(rssKiB(server.pid) / 1024).toFixed(0)} MiB`);
    };
    const warmupFailures = await runMany(0, WARMUP, progress);
    const warmupMs = performance.now() - started;
    const base = await atRest();
    const runStarted = performance.now();
    const failures = await runMany(WARMUP, COMMANDS, progress);
    const runMs = performance.now() - runStarted;
    const end = await atRest();
    const gauges = await subscriptionGauges();

    const growth = (end.rssKiB - base.rssKiB) / base.rssKiB;
    const heapGrowth = (end.heapKiB - base.heapKiB) / base.heapKiB;
    const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
    console.log(
      `soak: ${COMMANDS} commands in ${((warmupMs + runMs) / 1000).toFixed(1)} s of work (${(((COMMANDS - WARMUP) / runMs) * 1000).toFixed(0)} commands/s after warm-up; ` +
        `server CPU ${cpuSeconds(server.pid).toFixed(1)} s, test process CPU ${(process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6).toFixed(1)} s); ` +
        `after ${WARMUP} → after ${COMMANDS}, at rest: heap after GC ${mib(base.heapKiB)} → ${mib(end.heapKiB)} (${(heapGrowth * 100).toFixed(1)} %), ` +
        `RSS ${mib(base.rssKiB)} → ${mib(end.rssKiB)} (${(growth * 100).toFixed(1)} %); ` +
        `while running: ${samples.join(', ')}; fds at rest ${JSON.stringify(base.fds)} → ${JSON.stringify(end.fds)}; ` +
        `subscription gauges: ${gauges ? JSON.stringify(gauges) : 'no /metrics with a subscription gauge: not checked'}`,
    );
    expect([...warmupFailures, ...failures].slice(0, 10)).toEqual([]);
    expect(end.fds).toEqual(base.fds);
    expect(heapGrowth).toBeLessThanOrEqual(0.1);
    expect(growth).toBeLessThanOrEqual(0.1);
    if (gauges) expect(gauges).toEqual(Object.fromEntries(Object.keys(gauges).map((k) => [k, 0])));
  }, 120_000);
});
