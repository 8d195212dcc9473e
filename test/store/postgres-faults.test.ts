// The PostgreSQL store while its database goes away and comes back (a restart of the real server
// of test/support/postgres.ts) or refuses a write: nothing lost, repeated or thrown, nothing wedged.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.js';
import type { CommandEvent, NewCommandEvent } from '../../src/runs/types.js';
import { type PgStore, type PgStoreOptions } from '../../src/store/postgres/index.js';
import { usePgStores } from './pg-fixture.js';

const stores = usePgStores('faults', { beforeClose: (cluster) => cluster.start() }); // a test that failed midway may have left it stopped
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeAll(() => void process.on('unhandledRejection', onUnhandled));
afterAll(() => void process.off('unhandledRejection', onUnhandled));

async function open(url: string, replicaId: string, options: Partial<PgStoreOptions> = {}): Promise<PgStore> {
  return stores.open({ url, replicaId, flushMs: 10, ...options });
}

const at = new Date('2026-11-25T10:00:00Z');
const out = (text: string): NewCommandEvent => ({ type: 'output', stream: 'STDOUT', text, at });

async function collect(events: AsyncIterable<CommandEvent>): Promise<CommandEvent[]> {
  const got: CommandEvent[] = [];
  for await (const e of events) got.push(e);
  return got;
}

const WAIT = { timeout: 30_000, interval: 20 };

describe('postgres store across a database restart', () => {
  it('loses and repeats nothing of what was appended while the database was down, reports health, and never throws', async () => {
    const url = await stores.freshDatabase();
    const a = await open(url, 'a');
    const b = await open(url, 'b');
    const command = await a.commands.insert({
      projectId: 'demo',
      kind: 'SHELL',
      argv: ['yes'],
      workdir: '',
      timeoutSeconds: 600,
      status: 'RUNNING',
      exitCode: null,
      error: null,
      createdAt: at,
      startedAt: at,
      finishedAt: null,
      durationMs: null,
      claude: null,
      prunedAt: null,
      spool: { pgid: 7, stdout: 0, stderr: 0 },
    });
    const id = command.id;
    const following = collect(b.log.follow(id, 0, new AbortController().signal));

    const texts: string[] = [];
    let stdout = 0;
    const appendSome = async (n: number): Promise<{ written: Promise<unknown> }> => {
      const batch = Array.from({ length: n }, () => `line ${texts.length + 1}\n`).map((t, i) => `${t.slice(0, -1)}.${i}\n`);
      texts.push(...batch);
      await a.log.append(id, batch.map(out));
      stdout += batch.reduce((bytes, t) => bytes + Buffer.byteLength(t), 0);
      // The spool offset goes with the events it covers; its promise settles once both are written.
      return { written: a.commands.update(id, { spool: { pgid: 7, stdout, stderr: 0 } }) };
    };

    const updates: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) updates.push((await appendSome(10)).written);
    await vi.waitFor(async () => expect(await a.log.durableSeq(id)).toBe(200), WAIT);
    expect(a.healthy()).toBe(true);

    await stores.cluster.stop();
    for (let i = 0; i < 20; i++) {
      updates.push((await appendSome(10)).written);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await vi.waitFor(() => expect(a.healthy()).toBe(false), WAIT);
    await vi.waitFor(() => expect(b.healthy()).toBe(false), WAIT);
    expect(a.stats().pendingBytes).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) updates.push((await appendSome(10)).written);

    await stores.cluster.start();
    await vi.waitFor(async () => expect(await a.log.durableSeq(id)).toBe(600), WAIT);
    await vi.waitFor(() => expect(a.healthy()).toBe(true), WAIT);
    await Promise.all(updates);
    expect(a.stats().pendingBytes).toBe(0);

    await a.commands.update(id, { status: 'SUCCEEDED', exitCode: 0, finishedAt: at, durationMs: 0 });
    await a.log.append(id, [{ type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 0, error: null, at }]);
    const got = await following;
    expect(got.map((e) => e.seq)).toEqual(Array.from({ length: 601 }, (_, i) => i + 1));
    expect(got.slice(0, 600).map((e) => (e as { text: string }).text)).toEqual(texts);
    expect((await b.log.read(id, 0, 1000)).length).toBe(601);
    await vi.waitFor(() => expect(b.healthy()).toBe(true), WAIT);
    expect(await b.commands.get(id)).toMatchObject({ status: 'SUCCEEDED', spool: { pgid: 7, stdout, stderr: 0 } });
    expect(unhandled).toEqual([]);
  });

  it('says it is backlogged while more output than its bound waits for the database, and drained once written', async () => {
    const url = await stores.freshDatabase();
    const a = await open(url, 'a', { maxPendingBytes: 10_000 });
    const id = 'cmd-demo-0001abcdef';
    await a.log.append(id, [out('first\n')]);
    await vi.waitFor(async () => expect(await a.log.durableSeq(id)).toBe(1), WAIT);

    await stores.cluster.stop();
    expect(a.log.backlogged()).toBe(false);
    for (let i = 0; i < 30; i++) await a.log.append(id, [out('y'.repeat(999) + '\n')]);
    expect(a.log.backlogged()).toBe(true);
    expect(a.stats().pendingBytes).toBe(30_000);
    let drained = false;
    const draining = a.log.drained().then(() => (drained = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(drained).toBe(false);

    await stores.cluster.start();
    await draining;
    expect(a.log.backlogged()).toBe(false);
    await vi.waitFor(async () => expect(await a.log.durableSeq(id)).toBe(31), WAIT);
    expect(unhandled).toEqual([]);
  });
});

describe('postgres store when the database refuses a write', () => {
  it('drops only the command whose writes the database refuses, and writes the rest of its batch', async () => {
    const url = await stores.freshDatabase();
    const lines: string[] = [];
    const a = await open(url, 'a', { flushMs: 60_000, logger: createLogger('error', (line) => void lines.push(line)) });
    const [bad, good] = ['cmd-demo-0001aaaaaa', 'cmd-demo-0002bbbbbb'];
    await a.log.append(bad, [out('1\n')]);
    await a.log.flushed();
    // Another writer (a bug, or a replica without a lease) took seq 2 behind this store's back.
    await a.pool.query("INSERT INTO events (command_id, seq, type, at, stream, text) VALUES ($1, 2, 'output', 0, 'STDOUT', 'not mine')", [bad]);
    await a.log.append(bad, [out('2\n')]);
    await a.log.append(good, [out('fine\n')]);
    await a.log.flushed();
    expect((await a.log.read(good, 0, 10)).map((e) => (e as { text: string }).text)).toEqual(['fine\n']);
    expect((await a.log.read(bad, 0, 10)).map((e) => (e as { text: string }).text)).toEqual(['1\n', 'not mine']);
    expect(lines.map((l) => JSON.parse(l) as { msg: string; commands?: string[] }).filter((l) => l.msg === 'store: writes dropped')).toEqual([
      expect.objectContaining({ commands: [bad], events: 1 }),
    ]);
    // The queue is not wedged: later writes go through.
    await a.log.append(good, [out('still fine\n')]);
    await a.log.flushed();
    expect(await a.log.durableSeq(good)).toBe(2);
    expect(unhandled).toEqual([]);
  });
});
