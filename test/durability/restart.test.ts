// The real server process, SIGKILLed with five commands in its history (one finished, one
// running and writing forever, one with a 10 s timeout, two queued behind them), then started
// again on the same data directory: history survives the kill, the running commands are adopted
// (they ran on under their supervisors), the timeout fires at its time counted from the real
// start, the queued ones run in their order, a cancel from the new server kills the adopted
// command's whole process tree, and ids and idempotency keys carry on. What a subscriber saw
// before the kill is never taken back: it is a prefix of what the new server serves.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, COMMAND_EVENTS, COMMAND_FIELDS, gqlData, runShell, sseClient, waitFinal } from '../api/client.js';
import { killGroupsWith, pollUntil, processesWith, startServer, type ServerProcess } from './server-process.js';

/** Output of every line the finished command wrote, on both streams. */
const FINISHED_LINES = 300;
const FINISHED = `for i in $(seq 1 ${FINISHED_LINES}); do echo "out $i"; echo "err $i" >&2; done`;
/** The subscriber follows the running command at least this long before the kill. */
const FOLLOW_MS = 1000;
const TIMEOUT_SECONDS = 10;

const OUTPUT = `query($id: ID!) { command(id: $id) { output { __typename seq stream text } } }`;
const LIST = `query { commands(projectId: "demo", first: 20) { edges { node { id status } } } }`;

type Event = {
  __typename: string;
  seq: number;
  stream?: string;
  text?: string;
  status?: string;
  exitCode?: number | null;
  error?: string | null;
  durationMs?: number;
};

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
  queued2: {} as { id: string },
  timed: {} as { id: string },
  killedAt: 0,
  /** When the second server answered (epoch ms). */
  restartedAt: 0,
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
  env = { RDEV_DATA_DIR: dataDir, RDEV_MAX_CONCURRENT_PER_PROJECT: '2', RDEV_SHUTDOWN_GRACE_SECONDS: '0' };
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
    before.timed = { id: await runShell(first.url, 'demo', `sleep ${marker}1`, { timeoutSeconds: TIMEOUT_SECONDS }) };
    const queuedId = await runShell(first.url, 'demo', 'echo "runs after the restart"', { idempotencyKey: 'restart-queued' });
    before.queued = { id: queuedId, command: await commandOf(first.url, queuedId) };
    before.queued2 = { id: await runShell(first.url, 'demo', 'echo "runs second"') };
    await pollUntil(
      'the subscriber to follow for FOLLOW_MS',
      () => before.running.seen,
      (seen) => seen.length > 2 && seen.at(-1)!.receivedAt - seen[0]!.receivedAt > FOLLOW_MS,
      20_000,
    );
    before.commandIds = await commandIds(first.url);

    before.killedAt = Date.now();
    await first.kill();
    await following;
    client.dispose();
    second = await startServer({ env });
    before.restartedAt = Date.now();
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

  it('adopts the running command: it ran on, its output goes on after what the subscriber saw, with no gap', async () => {
    const { id, seen } = before.running;
    expect(await commandOf(second.url, id)).toMatchObject({ status: 'RUNNING', exitCode: null, error: null });
    // The whole tree outlived the server: the silent child too.
    expect(processesWith(marker).filter((p) => p.args.startsWith(`sleep ${marker} `) || p.args === `sleep ${marker}`).length).toBe(1);
    const seenOutput = seen.filter((e) => e.__typename === 'CommandOutput');
    // Resume where the subscriber was: what follows continues its lines exactly.
    const after = seenOutput.at(-1)!.seq;
    const more: Event[] = [];
    const client = sseClient(second.url, false);
    try {
      for await (const result of client.iterate({ query: COMMAND_EVENTS, variables: { id, after } })) {
        more.push(result.data!.commandEvents as Event);
        if (more.length >= 5) break;
      }
    } finally {
      client.dispose();
    }
    expect(more.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5].map((i) => after + i));
    const text = [...seenOutput, ...more].map((e) => e.text).join('');
    const lines = text.split('\n').slice(0, -1);
    expect(lines).toEqual(['started', ...Array.from({ length: lines.length - 1 }, (_, i) => `tick ${i + 1}`)]);
  });

  it('times the adopted command out at its time, counted from its real start', async () => {
    const timed = await waitFinal(second.url, before.timed.id, 60_000);
    expect({ status: timed.status, exitCode: timed.exitCode, error: timed.error }).toEqual({
      status: 'TIMED_OUT',
      exitCode: null,
      error: `timed out after ${TIMEOUT_SECONDS}s`,
    });
    const started = Date.parse(timed.startedAt);
    const finished = Date.parse(timed.finishedAt);
    expect(finished - started).toBeGreaterThanOrEqual(TIMEOUT_SECONDS * 1000);
    // Due at its start + the timeout, or at once on adoption when that passed while no server ran;
    // then SIGTERM (the sleep dies of it at once; SIGKILL would follow after 2 s) and slack for a busy machine.
    expect(finished).toBeLessThan(Math.max(started + TIMEOUT_SECONDS * 1000, before.restartedAt) + 5000);
    await pollUntil(
      'the timed-out sleep to be gone',
      () => processesWith(`${marker}1`),
      (p) => p.length === 0,
      10_000,
    );
  });

  it('runs the queued commands after the restart, in their order', async () => {
    expect(before.queued.command).toMatchObject({ status: 'QUEUED', startedAt: null });
    const first = await waitFinal(second.url, before.queued.id, 60_000);
    const next = await waitFinal(second.url, before.queued2.id, 60_000);
    expect([first.status, next.status]).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    expect(Date.parse(next.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.startedAt));
    expect((await outputOf(second.url, before.queued.id)).map((e) => e.text)).toEqual(['runs after the restart\n']);
  });

  it('cancels the adopted command from the new server: its whole process tree is gone', async () => {
    const { id } = before.running;
    await gqlData(second.url, `mutation($id: ID!) { cancelCommand(id: $id) { id } }`, { id });
    const done = await waitFinal(second.url, id, 30_000);
    expect({ status: done.status, exitCode: done.exitCode }).toEqual({ status: 'CANCELED', exitCode: null });
    await pollUntil(
      'every process of the canceled tree to be gone',
      () => processesWith(marker),
      (p) => p.length === 0,
      10_000,
    );
    const events = await collect<Event>(sseClient(second.url, false), COMMAND_EVENTS, { id });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'CANCELED' });
  });

  it('gives new commands new ids, and runs them', async () => {
    const id = await runShell(second.url, 'demo', 'echo after the restart');
    expect(before.commandIds).not.toContain(id);
    expect(await waitFinal(second.url, id)).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect((await commandIds(second.url))[0]).toBe(id);
  });

  it('returns the first command for an idempotency key used before the kill, starting nothing', async () => {
    const idsBefore = await commandIds(second.url);
    const again = async (key: string) =>
      (
        await gqlData<{ runShell: { id: string; status: string } }>(second.url, `mutation($input: RunShellInput!) { runShell(input: $input) { id status } }`, {
          input: { projectId: 'demo', command: 'echo retried', idempotencyKey: key },
        })
      ).runShell;
    expect([await again('restart-finished'), await again('restart-running'), await again('restart-queued')]).toEqual([
      { id: before.finished.id, status: 'SUCCEEDED' },
      { id: before.running.id, status: 'CANCELED' },
      { id: before.queued.id, status: 'SUCCEEDED' },
    ]);
    expect(await commandIds(second.url)).toEqual(idsBefore);
  });
});
