// A 500,000-line command read through each transport by a client that disconnects and reconnects
// 100 times at random (seeded), half of the time cleanly at an event boundary and half of the time
// by tearing the connection mid-frame; every reconnect resumes where the client's last whole
// event left off. What the client reassembles must be what the command wrote, byte for byte, with
// no gap and no repeat. Set DURABILITY_SEED=<n> to replay a run (the seed is printed).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runShell } from '../api/client.js';
import { startServer, type ServerProcess } from './server-process.js';
import { CutSchedule, planCuts, readConnection, type Cut } from './sse-cut.js';

const LINES = 500_000;
const CUTS = 100;
/** The most bytes a torn connection reads past the event where it decided to tear. */
const MAX_TEAR = 4096;
const SEED = Number(process.env.DURABILITY_SEED ?? 20261125);
/** Distinct lines, written one `echo` at a time for ~4 s, so that reconnects meet both replay and live output. */
const COMMAND = `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i+1)); done`;
const EXPECTED = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join('');

const SUBSCRIPTION = `subscription($id: ID!, $after: Int) { commandEvents(id: $id, after: $after) {
  __typename ... on CommandOutput { seq stream text } ... on CommandCompleted { seq status exitCode } } }`;

type GqlEvent =
  | { __typename: 'CommandOutput'; seq: number; stream: string; text: string }
  | { __typename: 'CommandCompleted'; seq: number; status: string; exitCode: number | null };

let server: ServerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'rdev-churn-'));
  server = await startServer({ env: { RDEV_DATA_DIR: dataDir } });
  console.log(`churn: DURABILITY_SEED=${SEED}`);
}, 60_000);

afterAll(async () => {
  await server?.kill();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Where two long strings first differ (null when equal), small enough to print. */
function firstDifference(actual: string, expected: string): null | { at: number; actual: string; expected: string; lengths: [number, number] } {
  if (actual === expected) return null;
  let at = 0;
  while (at < actual.length && actual[at] === expected[at]) at++;
  return {
    at,
    actual: actual.slice(Math.max(0, at - 40), at + 40),
    expected: expected.slice(Math.max(0, at - 40), at + 40),
    lengths: [actual.length, expected.length],
  };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const linesIn = (text: string): number => {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
};

/** What a client put together over all its connections. */
interface Reassembled {
  output: string;
  /** The seq of every event accepted, in order (GraphQL transports). */
  seqs: number[];
  completed: GqlEvent | Record<string, unknown> | undefined;
  connections: number;
  schedule: CutSchedule;
  ms: number;
}

/** The checks every transport must pass; one assertion over the whole result so that a failure shows everything. */
function verdictOf(r: Reassembled) {
  return {
    output: firstDifference(r.output, EXPECTED),
    sha256: sha256(r.output),
    // Each connection takes at most one cut, and a tear can only happen while bytes still arrive:
    // when a client gets much of a finished command's replay in one read (events hold up to 64 Ki
    // characters), the cuts it passes meanwhile are not reached. How many are reached depends on
    // timing; that the cut machinery really cut (at least 5 times) does not.
    disconnected: r.schedule.total >= 5,
    oneConnectionMore: r.connections === r.schedule.total + 1,
  };
}

/** Every planned cut dropped a connection, and each connection but the last ended in one. */
const EXPECTED_VERDICT = { output: null, sha256: sha256(EXPECTED), disconnected: true, oneConnectionMore: true };

/** A fetch whose response body can be cut `tearAt` bytes in (the graphql-sse client reads it). */
function tearableFetch(state: { received: number; tearAt: number }): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    const reader = res.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        if (state.received + value.length < state.tearAt) {
          state.received += value.length;
          return controller.enqueue(value);
        }
        const head = value.subarray(0, state.tearAt - state.received);
        state.received = state.tearAt;
        if (head.length > 0) controller.enqueue(head);
        await reader.cancel(); // the socket goes away here, mid-frame
        controller.error(new TornError());
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

class TornError extends Error {
  static readonly MESSAGE = 'connection torn by the test';
  constructor() {
    super(TornError.MESSAGE);
  }
}

async function viaGraphqlSse(id: string, cuts: Cut[]): Promise<Reassembled> {
  const started = performance.now();
  const schedule = new CutSchedule(cuts);
  const texts: string[] = [];
  const seqs: number[] = [];
  let lines = 0;
  let completed: GqlEvent | undefined;
  let connections = 0;
  while (!completed) {
    connections++;
    const state = { received: 0, tearAt: Infinity };
    const client = createClient({ url: `${server.url}/graphql/stream`, retryAttempts: 0, fetchFn: tearableFetch(state) });
    let cut: Cut | undefined;
    try {
      for await (const result of client.iterate({ query: SUBSCRIPTION, variables: { id, after: seqs.at(-1) ?? 0 } })) {
        if (result.errors) throw new Error(JSON.stringify(result.errors));
        const event = (result.data as { commandEvents: GqlEvent }).commandEvents;
        seqs.push(event.seq);
        if (event.__typename === 'CommandCompleted') completed = event;
        else {
          texts.push(event.text);
          lines += linesIn(event.text);
        }
        if (cut) continue;
        cut = schedule.due(lines);
        if (cut?.kind === 'clean') break; // return(): the client leaves at an event boundary
        if (cut) state.tearAt = state.received + cut.tearAfter;
      }
      if (cut?.kind === 'clean' && !completed) schedule.record('clean');
    } catch (err) {
      // The torn body surfaces as our error, or as the client's NetworkError carrying its message.
      if (cut?.kind !== 'torn' || (err as Error).message !== TornError.MESSAGE) throw err;
      schedule.record('torn');
    } finally {
      client.dispose();
    }
  }
  return { output: texts.join(''), seqs, completed, connections, schedule, ms: performance.now() - started };
}

async function viaYogaSse(id: string, cuts: Cut[]): Promise<Reassembled> {
  const started = performance.now();
  const schedule = new CutSchedule(cuts);
  const texts: string[] = [];
  const seqs: number[] = [];
  let lines = 0;
  let completed: GqlEvent | undefined;
  let connections = 0;
  while (!completed) {
    connections++;
    let cut: Cut | undefined;
    const end = await readConnection(
      `${server.url}/graphql`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: SUBSCRIPTION, variables: { id, after: seqs.at(-1) ?? 0 } }),
      },
      (frame) => {
        if (frame.event !== 'next') return 'continue';
        const payload = JSON.parse(frame.data) as { data?: { commandEvents: GqlEvent }; errors?: unknown };
        if (payload.errors || !payload.data) throw new Error(frame.data);
        const event = payload.data.commandEvents;
        seqs.push(event.seq);
        if (event.__typename === 'CommandCompleted') {
          completed = event;
          return 'continue';
        }
        texts.push(event.text);
        lines += linesIn(event.text);
        if (cut) return 'continue';
        cut = schedule.due(lines);
        if (!cut) return 'continue';
        return cut.kind === 'clean' ? 'disconnect' : { tearAfter: cut.tearAfter };
      },
    );
    if (end === 'disconnected') schedule.record('clean');
    else if (end === 'torn') schedule.record('torn');
    else if (!completed) throw new Error('the /graphql stream ended before CommandCompleted');
  }
  return { output: texts.join(''), seqs, completed, connections, schedule, ms: performance.now() - started };
}

async function viaRest(id: string, cuts: Cut[]): Promise<Reassembled & { ids: string[] }> {
  const started = performance.now();
  const schedule = new CutSchedule(cuts);
  const lines: string[] = [];
  const ids: string[] = [];
  let completed: Record<string, unknown> | undefined;
  let connections = 0;
  while (!completed) {
    connections++;
    let cut: Cut | undefined;
    const lastId = ids.at(-1);
    const end = await readConnection(
      `${server.url}/projects/demo/events?stream_id=${id}`,
      { headers: lastId === undefined ? {} : { 'last-event-id': lastId } },
      (frame) => {
        if (frame.id === undefined) throw new Error(`an event without an id: ${JSON.stringify(frame)}`);
        ids.push(frame.id);
        if (frame.event === 'complete') {
          completed = JSON.parse(frame.data) as Record<string, unknown>;
          return 'continue';
        }
        lines.push((JSON.parse(frame.data) as { line: string }).line);
        if (cut) return 'continue';
        cut = schedule.due(lines.length);
        if (!cut) return 'continue';
        return cut.kind === 'clean' ? 'disconnect' : { tearAfter: cut.tearAfter };
      },
    );
    if (end === 'disconnected') schedule.record('clean');
    else if (end === 'torn') schedule.record('torn');
    else if (!completed) throw new Error('the REST stream ended before complete');
  }
  return { output: lines.map((l) => `${l}\n`).join(''), seqs: [], completed, connections, schedule, ms: performance.now() - started, ids };
}

/** 1, 2, …, n. */
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

function report(name: string, r: Reassembled): void {
  console.log(
    `churn ${name}: ${LINES} lines, ${r.output.length} bytes in ${r.ms.toFixed(0)} ms over ${r.connections} connections ` +
      `(${r.schedule.done.clean} clean disconnects, ${r.schedule.done.torn} torn mid-stream, ${r.schedule.remaining} planned cuts not reached)`,
  );
}

describe(`a ${LINES}-line command read through ${CUTS} random disconnects (seed ${SEED})`, () => {
  it('graphql-sse (the graphql-sse client, resuming with `after`) gets every byte once, in order', async () => {
    const id = await runShell(server.url, 'demo', COMMAND);
    const r = await viaGraphqlSse(id, planCuts(SEED, CUTS, LINES, MAX_TEAR));
    report('graphql-sse', r);
    expect(verdictOf(r)).toEqual(EXPECTED_VERDICT);
    expect(r.seqs).toEqual(range(r.seqs.length)); // each event exactly once: no gap, no repeat
    expect(r.completed).toEqual({ __typename: 'CommandCompleted', seq: r.seqs.length, status: 'SUCCEEDED', exitCode: 0 });
  }, 300_000);

  it('Yoga SSE on /graphql over fetch (resuming with `after`) gets every byte once, in order', async () => {
    const id = await runShell(server.url, 'demo', COMMAND);
    const r = await viaYogaSse(id, planCuts(SEED + 1, CUTS, LINES, MAX_TEAR));
    report('yoga-sse', r);
    expect(verdictOf(r)).toEqual(EXPECTED_VERDICT);
    expect(r.seqs).toEqual(range(r.seqs.length));
    expect(r.completed).toEqual({ __typename: 'CommandCompleted', seq: r.seqs.length, status: 'SUCCEEDED', exitCode: 0 });
  }, 300_000);

  it('the REST shim (one event per line, resuming with Last-Event-ID) gets every line once, in order', async () => {
    const id = await runShell(server.url, 'demo', COMMAND);
    const r = await viaRest(id, planCuts(SEED + 2, CUTS, LINES, MAX_TEAR));
    report('rest', r);
    expect(verdictOf(r)).toEqual(EXPECTED_VERDICT);
    // Ids `seq.line` strictly increase across reconnects: no event was sent twice.
    const keys = r.ids.map((i) => i.split('.').map(Number) as [number, number?]);
    const outOfOrder = keys.findIndex(
      (k, i) => i > 0 && !(k[0] > keys[i - 1]![0] || (k[0] === keys[i - 1]![0] && (k[1] ?? Infinity) > (keys[i - 1]![1] ?? Infinity))),
    );
    expect({ outOfOrder, near: outOfOrder < 0 ? [] : r.ids.slice(outOfOrder - 2, outOfOrder + 2), events: r.ids.length }).toEqual({
      outOfOrder: -1,
      near: [],
      events: LINES + 1,
    });
    expect(r.completed).toMatchObject({ exit_code: 0, status: 'succeeded', error: null });
  }, 300_000);
});
