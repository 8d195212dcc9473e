import { describe, expect, it } from 'vitest';
import type { SqliteStore } from '../../src/store/sqlite.js';
import { collect, completed, draftOf, out, useTempFiles } from './helpers.js';

const HOUR = 3_600_000;
const now = Date.parse('2026-11-25T12:00:00Z');
const notRunning = (): boolean => false;

/**
 * Four finished commands, 1 000 bytes of output each in 10 events, finished 4, 3, 2 and 1 hours
 * ago; and the fifth, running, with 1 000 bytes too. Returns their ids by name, `cmd-1` … `cmd-5`.
 */
async function history(store: SqliteStore): Promise<Record<string, string>> {
  const ids: Record<string, string> = {};
  for (let n = 1; n <= 4; n++) {
    const finishedAt = new Date(now - (5 - n) * HOUR);
    const { id } = await store.commands.insert(draftOf(n, { status: 'RUNNING', startedAt: new Date(finishedAt.getTime() - 1000) }));
    ids[`cmd-${n}`] = id;
    await store.log.append(
      id,
      Array.from({ length: 10 }, () => out('x'.repeat(99) + '\n')),
    );
    // As finishCommand does: the final record and the completed event go under way together.
    await Promise.all([store.commands.update(id, { status: 'SUCCEEDED', exitCode: 0, finishedAt, durationMs: 1000 }), store.log.append(id, [completed()])]);
  }
  const { id } = await store.commands.insert(draftOf(5, { status: 'RUNNING', startedAt: new Date(now - 10 * HOUR) }));
  ids['cmd-5'] = id;
  await store.log.append(
    id,
    Array.from({ length: 10 }, () => out('y'.repeat(99) + '\n')),
  );
  return ids;
}

/** How many output events each command of `ids` still has, by name. */
const kept = async (store: SqliteStore, ids: Record<string, string>): Promise<Record<string, number>> =>
  Object.fromEntries(
    await Promise.all(Object.entries(ids).map(async ([name, id]) => [name, (await store.log.read(id, 0, 100)).filter((e) => e.type === 'output').length])),
  );

describe('sqlite store: retention', () => {
  const temp = useTempFiles();

  it('prunes the output of commands that finished longer ago than maxAgeMs', async () => {
    const store = temp.open();
    const ids = await history(store);
    expect(store.prune({ maxAgeMs: 2.5 * HOUR, isRunning: notRunning, now })).toEqual({ commands: 2, events: 20, bytes: 2000 });
    expect(await kept(store, ids)).toEqual({ 'cmd-1': 0, 'cmd-2': 0, 'cmd-3': 10, 'cmd-4': 10, 'cmd-5': 10 });
  });

  it('prunes the oldest finished commands until all output fits in maxOutputBytes', async () => {
    const store = temp.open();
    const ids = await history(store);
    // 5 000 bytes in all; the running command's 1 000 count, but only finished ones can go.
    expect(store.prune({ maxOutputBytes: 2500, isRunning: notRunning, now })).toEqual({ commands: 3, events: 30, bytes: 3000 });
    expect(await kept(store, ids)).toEqual({ 'cmd-1': 0, 'cmd-2': 0, 'cmd-3': 0, 'cmd-4': 10, 'cmd-5': 10 });
  });

  it('never prunes a running command, even when nothing else is left to prune', async () => {
    const store = temp.open();
    const ids = await history(store);
    expect(store.prune({ maxOutputBytes: 0, maxAgeMs: 0, isRunning: notRunning, now })).toEqual({ commands: 4, events: 40, bytes: 4000 });
    expect((await kept(store, ids))['cmd-5']).toBe(10);
  });

  it('skips a command the run manager still runs, whatever the file says', async () => {
    const store = temp.open();
    const ids = await history(store);
    expect(store.prune({ maxAgeMs: 0, isRunning: (id) => id === ids['cmd-1'], now })).toEqual({ commands: 3, events: 30, bytes: 3000 });
    expect((await kept(store, ids))['cmd-1']).toBe(10);
  });

  it('keeps the record and the completed event, marked as pruned', async () => {
    const store = temp.open();
    const ids = await history(store);
    store.prune({ maxAgeMs: 3.5 * HOUR, isRunning: notRunning, now });
    expect(await store.commands.get(ids['cmd-1']!)).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    expect(store.prunedInfo(ids['cmd-1']!)).toEqual({ prunedAt: new Date(now), prunedEvents: 10, prunedBytes: 1000 });
    expect(store.prunedInfo(ids['cmd-2']!)).toEqual({ prunedAt: null, prunedEvents: 0, prunedBytes: 0 });
    expect(store.prunedInfo('cmd-demo-00zz000000')).toBeUndefined();
    expect((await store.log.read(ids['cmd-1']!, 0, 100)).map((e) => [e.seq, e.type])).toEqual([[11, 'completed']]);
    expect(await store.log.lastSeq(ids['cmd-1']!)).toBe(11);
    expect((await collect(store.log.follow(ids['cmd-1']!, 0, new AbortController().signal))).map((e) => e.type)).toEqual(['completed']);
  });

  it('prunes nothing twice and nothing without limits', async () => {
    const store = temp.open();
    await history(store);
    expect(store.prune({ isRunning: notRunning, now })).toEqual({ commands: 0, events: 0, bytes: 0 });
    store.prune({ maxAgeMs: 2.5 * HOUR, isRunning: notRunning, now });
    expect(store.prune({ maxAgeMs: 2.5 * HOUR, isRunning: notRunning, now })).toEqual({ commands: 0, events: 0, bytes: 0 });
  });

  it('keeps what it pruned pruned after a reopen, and counts only what is left', async () => {
    const file = temp.file();
    const first = temp.open({ file });
    const ids = await history(first);
    first.prune({ maxAgeMs: 3.5 * HOUR, isRunning: notRunning, now });
    first.close();
    const second = temp.open({ file });
    expect(second.prunedInfo(ids['cmd-1']!)?.prunedBytes).toBe(1000);
    // 4 000 bytes are left (cmd-2, 3, 4 and the running cmd-5): 3 000 fit once cmd-2 goes.
    expect(second.prune({ maxOutputBytes: 3000, isRunning: (id) => id === ids['cmd-5'], now })).toEqual({ commands: 1, events: 10, bytes: 1000 });
    expect(await kept(second, ids)).toEqual({ 'cmd-1': 0, 'cmd-2': 0, 'cmd-3': 10, 'cmd-4': 10, 'cmd-5': 10 });
  });
});
