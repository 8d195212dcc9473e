// The real server process, SIGKILLed with three commands in its history (one finished, one
// running and writing, one queued behind it), then started again on the same data directory:
// history survives the kill, what was cut off is LOST "server restarted", and ids and
// idempotency keys carry on. The running command writes a line every ~10 ms while a subscriber
// follows it, which measures how much output a SIGKILL costs (at most RDEV_FLUSH_MS of it).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, COMMAND_EVENTS, COMMAND_FIELDS, gqlData, runShell, sseClient, waitFinal } from '../api/client.js';
import { readSse } from '../api/sse-reader.js';
import { killGroupsWith, pollUntil, processesWith, startServer, type ServerProcess } from './server-process.js';

/** Output of every line the finished command wrote, on both streams. */
const FINISHED_LINES = 300;
const FINISHED = `for i in $(seq 1 ${FINISHED_LINES}); do echo "out $i"; echo "err $i" >&2; done`;
/** Everything seen by a subscriber this long before the kill must have been stored (RDEV_FLUSH_MS is 50; the rest is slack for a busy machine). */
const DURABLE_AFTER_MS = 1000;

const OUTPUT = `query($id: ID!) { command(id: $id) { output { __typename seq stream text } } }`;
const LIST = `query { commands(projectId: "demo", first: 20) { edges { node { id status } } } }`;

type Event = { __typename: string; seq: number; stream?: string; text?: string; status?: string; exitCode?: number | null; error?: string | null; durationMs?: number };

/** A `sleep` duration no other process on the machine has: it finds the command's processes in /proc. */
const marker = `300.${parseInt(randomBytes(4).toString('hex'), 16)}`;
let dataDir: string;
let env: Record<string, string>;
let second: ServerProcess;

/** What was known before the kill. */
const before = {
  finished: {} as { id: string; command: Record<string, any>; output: Event[]; events: Event[] },
  running: {} as { id: string; seen: Array<Event & { receivedAt: number }> },
  queued: {} as { id: string; command: Record<string, any> },
  killedAt: 0,
  orphans: 0,
  commandIds: [] as string[],
};

async function outputOf(url: string, id: string): Promise<Event[]> {
  return (await gqlData<{ command: { output: Event[] } }>(url, OUTPUT, { id })).command.output;
}

async function commandOf(url: string, id: string): Promise<Record<string, any>> {
  return (await gqlData<{ command: Record<string, any> }>(url, `query($id: ID!) { command(id: $id) { ${COMMAND_FIELDS} } }`, { id })).command;
}

async function commandIds(url: string): Promise<string[]> {
  return (await gqlData<{ commands: { edges: Array<{ node: { id: string } }> } }>(url, LIST)).commands.edges.map((e) => e.node.id);
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'rdev-restart-'));
  env = { RDEV_DATA_DIR: dataDir, RDEV_MAX_CONCURRENT_PER_PROJECT: '1', RDEV_SHUTDOWN_GRACE_SECONDS: '0' };
  const first = await startServer({ env });
  try {
    const finishedId = await runShell(first.url, 'demo', FINISHED, { idempotencyKey: 'restart-finished' });
    before.finished = {
      id: finishedId,
      command: await waitFinal(first.url, finishedId),
      output: await outputOf(first.url, finishedId),
      events: await collect<Event>(sseClient(first.url, false), COMMAND_EVENTS, { id: finishedId }),
    };

    // A command that writes until it is killed, with a silent child (the sleep) that will outlive the server.
    const runningId = await runShell(first.url, 'demo', `sleep ${marker} & echo started; i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.01; done`, {
      idempotencyKey: 'restart-running',
    });
    before.running = { id: runningId, seen: [] };
    const client = sseClient(first.url, false);
    const following = (async () => {
      try {
        for await (const result of client.iterate({ query: COMMAND_EVENTS, variables: { id: runningId } })) {
          before.running.seen.push({ ...(result.data!.commandEvents as Event), receivedAt: Date.now() });
        }
      } catch {
        // the server died under it
      }
    })();
    const queuedId = await runShell(first.url, 'demo', 'echo "never runs"', { idempotencyKey: 'restart-queued' });
    before.queued = { id: queuedId, command: await commandOf(first.url, queuedId) };
    // Let the subscriber see output for a while, so that part of it is older than DURABLE_AFTER_MS at the kill.
    await pollUntil(
      'output older than DURABLE_AFTER_MS',
      () => before.running.seen,
      (seen) => seen.length > 2 && seen.at(-1)!.receivedAt - seen[0]!.receivedAt > DURABLE_AFTER_MS + 500,
      20_000,
    );
    before.commandIds = await commandIds(first.url);

    before.killedAt = Date.now();
    await first.kill();
    await following;
    client.dispose();
    // The local executor runs each command in its own process group, so the SIGKILL did not reach it:
    // the writing shell dies of SIGPIPE at its next line, the silent sleep lives on.
    before.orphans = processesWith(marker).filter((p) => p.args.startsWith('sleep ')).length;
    killGroupsWith(marker);
    await pollUntil('the orphaned command to be gone', () => processesWith(marker), (p) => p.length === 0, 10_000);

    second = await startServer({ env });
  } finally {
    await first.kill();
  }
}, 90_000);

afterAll(async () => {
  await second?.kill();
  killGroupsWith(marker);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a SIGKILLed server started again on the same data directory', () => {
  it('keeps the finished command whole: status, exit code, times and every output line', async () => {
    expect(before.finished.command).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, error: null });
    expect(await commandOf(second.url, before.finished.id)).toEqual(before.finished.command);
    const output = await outputOf(second.url, before.finished.id);
    expect(output).toEqual(before.finished.output);
    const text = (stream: string) =>
      output
        .filter((e) => e.stream === stream)
        .map((e) => e.text)
        .join('');
    const lines = (prefix: string) => Array.from({ length: FINISHED_LINES }, (_, i) => `${prefix} ${i + 1}\n`).join('');
    expect({ stdout: text('STDOUT'), stderr: text('STDERR') }).toEqual({ stdout: lines('out'), stderr: lines('err') });
  });

  it('replays the finished command through commandEvents to its CommandCompleted, as before the kill', async () => {
    const events = await collect<Event>(sseClient(second.url, false), COMMAND_EVENTS, { id: before.finished.id });
    expect(events).toEqual(before.finished.events);
    expect(events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'SUCCEEDED', exitCode: 0, seq: events.length });
  });

  it('marks the running command LOST "server restarted", keeping the output stored before the kill', async () => {
    const { id, seen } = before.running;
    expect(await commandOf(second.url, id)).toMatchObject({ status: 'LOST', exitCode: null, error: 'server restarted' });
    const events = await collect<Event & { at?: string }>(sseClient(second.url, false), COMMAND_EVENTS, { id });
    const output = events.slice(0, -1);
    const stored = output.map((e) => e.text).join('');
    const lineCount = stored.split('\n').length - 1;
    // Whole lines, from the start, with no gap: "started", then tick 1, 2, … n.
    expect(stored).toBe(['started', ...Array.from({ length: lineCount - 1 }, (_, i) => `tick ${i + 1}`)].map((l) => `${l}\n`).join(''));
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toEqual({ __typename: 'CommandCompleted', seq: events.length, status: 'LOST', exitCode: null, durationMs: expect.any(Number), error: 'server restarted' });
    // What the subscriber saw and the store kept agree where both have it.
    const seenOutput = seen.filter((e) => e.__typename === 'CommandOutput');
    const common = Math.min(seenOutput.length, output.length);
    expect(output.slice(0, common).map((e) => e.text)).toEqual(seenOutput.slice(0, common).map((e) => e.text));
    // Everything the subscriber had DURABLE_AFTER_MS before the kill is stored.
    const old = seenOutput.filter((e) => e.receivedAt <= before.killedAt - DURABLE_AFTER_MS).at(-1);
    expect(old).toBeDefined();
    expect(output.at(-1)!.seq).toBeGreaterThanOrEqual(old!.seq);
    const lostEvents = Math.max(0, seenOutput.at(-1)!.seq - output.at(-1)!.seq);
    const seenLines = seenOutput.map((e) => e.text).join('').split('\n').length - 1;
    console.log(
      `SIGKILL loss: the subscriber had ${seenOutput.length} output events (${seenLines} lines), the store kept ${output.length} (${lineCount} lines): ` +
        `${lostEvents} events / ${Math.max(0, seenLines - lineCount)} lines lost; its 'sleep ${marker}' ${before.orphans ? 'outlived the server (killed by the test)' : 'was gone'}`,
    );
  });

  it('marks the queued command LOST "server restarted"; its events are one CommandCompleted LOST', async () => {
    expect(before.queued.command).toMatchObject({ status: 'QUEUED', startedAt: null });
    expect(await commandOf(second.url, before.queued.id)).toMatchObject({ status: 'LOST', exitCode: null, error: 'server restarted', startedAt: null });
    const events = await collect<Event>(sseClient(second.url, false), COMMAND_EVENTS, { id: before.queued.id });
    expect(events).toEqual([{ __typename: 'CommandCompleted', seq: 1, status: 'LOST', exitCode: null, durationMs: 0, error: 'server restarted' }]);
  });

  it('ends the REST stream of a lost command with complete "lost"', async () => {
    const frames: Array<{ event: string; data: unknown }> = [];
    for await (const f of readSse(`${second.url}/projects/demo/events?stream_id=${before.queued.id}`)) {
      if (f.event !== ':') frames.push({ event: f.event, data: JSON.parse(f.data) });
    }
    expect(frames).toEqual([{ event: 'complete', data: { exit_code: null, duration_ms: 0, status: 'lost', error: 'server restarted' } }]);
  });

  it('gives new commands new ids, and runs them (the lost ones hold no slot)', async () => {
    const id = await runShell(second.url, 'demo', 'echo after the restart');
    expect(before.commandIds).not.toContain(id);
    expect(await waitFinal(second.url, id)).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect(await commandIds(second.url)).toEqual([id, ...before.commandIds]);
  });

  it('returns the first command for an idempotency key used before the kill, starting nothing', async () => {
    const idsBefore = await commandIds(second.url);
    const again = async (key: string) =>
      (await gqlData<{ runShell: { id: string; status: string } }>(second.url, `mutation($input: RunShellInput!) { runShell(input: $input) { id status } }`, {
        input: { projectId: 'demo', command: 'echo retried', idempotencyKey: key },
      })).runShell;
    expect([await again('restart-finished'), await again('restart-running'), await again('restart-queued')]).toEqual([
      { id: before.finished.id, status: 'SUCCEEDED' },
      { id: before.running.id, status: 'LOST' },
      { id: before.queued.id, status: 'LOST' },
    ]);
    expect(await commandIds(second.url)).toEqual(idsBefore);
  });
});
