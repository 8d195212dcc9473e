import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/runs/event-log.js';
import type { CommandEvent } from '../../src/runs/types.js';
import { collect, completed, out, tick, useTempFiles } from './helpers.js';

/** Long enough that the timer never writes a batch during a test: only `flush()` (or a completion) does. */
const NEVER = 10_000;

/** Resolves when `cond()` holds; fails after `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await tick(1);
  }
}

/** Follows a command into `seen` until the follow ends or `stop()`. */
function follower(log: EventLog, commandId: string, afterSeq = 0): { seen: CommandEvent[]; done: Promise<void>; stop(): void } {
  const controller = new AbortController();
  const seen: CommandEvent[] = [];
  const done = (async () => {
    for await (const e of log.follow(commandId, afterSeq, controller.signal)) seen.push(e);
  })();
  return { seen, done, stop: () => controller.abort() };
}

/** A trigger, made through a second connection, that makes every write of an event fail; returns how to lift it. */
function refuseEventWrites(file: string): () => void {
  const other = new Database(file);
  other.exec("CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
  return () => {
    other.exec('DROP TRIGGER refuse_events');
    other.close();
  };
}

const seqs = (events: readonly CommandEvent[]): number[] => events.map((e) => e.seq);

describe('sqlite event log: readers see only durable events', () => {
  const temp = useTempFiles();

  it('does not return an appended event from read until its batch is written', async () => {
    const store = temp.open({ flushMs: NEVER });
    expect(seqs(await store.log.append('a', [out('1\n')]))).toEqual([1]);
    expect(await store.log.read('a', 0, 10)).toEqual([]);
    expect(await store.log.durableSeq('a')).toBe(0);
    store.flush();
    expect(seqs(await store.log.read('a', 0, 10))).toEqual([1]);
    expect(await store.log.durableSeq('a')).toBe(1);
  });

  it('wakes a follower at the commit, not at the append', async () => {
    const store = temp.open({ flushMs: NEVER });
    const f = follower(store.log, 'a');
    await store.log.append('a', [out('1\n'), out('2\n')]);
    // Proving that something does NOT happen needs a pause: a woken follower would have run by now.
    await tick(30);
    expect(f.seen).toEqual([]);
    store.flush();
    await until(() => f.seen.length === 2);
    expect(seqs(f.seen)).toEqual([1, 2]);
    f.stop();
    await f.done;
  });

  it('shows readers a batch once its timer has written it, and not before', async () => {
    const order: string[] = [];
    const store = temp.open({ flushMs: 100, onFlush: () => order.push('committed') });
    const seen: number[] = [];
    store.log.onDurable((_id, events) => order.push(`told ${seqs(events).join(',')}`));
    const f = follower(store.log, 'a');
    await store.log.append('a', [out('1\n')]);
    expect(await store.log.read('a', 0, 10)).toEqual([]);
    await until(() => f.seen.length === 1);
    seen.push(...seqs(f.seen), ...seqs(await store.log.read('a', 0, 10)));
    order.push('seen');
    expect(seen).toEqual([1, 1]);
    // The listener is told inside the commit, before the queue's onFlush; the follower runs after both.
    expect(order).toEqual(['told 1', 'committed', 'seen']);
    f.stop();
    await f.done;
  });

  it('numbers on across pending events while durableSeq stays at the last commit', async () => {
    const store = temp.open({ flushMs: NEVER });
    await store.log.append('a', [out('1'), out('2'), out('3')]);
    store.flush();
    expect(seqs(await store.log.append('a', [out('4'), out('5')]))).toEqual([4, 5]);
    expect(await store.log.lastSeq('a')).toBe(5);
    expect(await store.log.durableSeq('a')).toBe(3);
    expect(seqs(await store.log.read('a', 0, 10))).toEqual([1, 2, 3]);
    expect(seqs(await store.log.append('a', [out('6')]))).toEqual([6]);
    store.flush();
    expect(await store.log.durableSeq('a')).toBe(6);
    expect(seqs(await store.log.read('a', 3, 10))).toEqual([4, 5, 6]);
  });

  it('gives followers every event exactly once and in order across many batches', async () => {
    let batches = 0;
    const store = temp.open({ flushMs: NEVER, maxBatch: 7, onFlush: () => batches++ });
    const early = follower(store.log, 'a');
    let late: ReturnType<typeof follower> | undefined;
    for (let i = 1; i <= 300; i++) {
      await store.log.append('a', [out(`${i}\n`)]);
      if (i % 11 === 0) store.flush();
      if (i % 5 === 0) await new Promise((r) => setImmediate(r));
      if (i === 150) late = follower(store.log, 'a', 100);
    }
    await store.log.append('a', [completed()]);
    await Promise.all([early.done, late!.done]);
    expect(batches).toBeGreaterThan(40);
    expect(seqs(early.seen)).toEqual(Array.from({ length: 301 }, (_, i) => i + 1));
    expect(early.seen.slice(0, 300).map((e) => (e.type === 'output' ? e.text : ''))).toEqual(Array.from({ length: 300 }, (_, i) => `${i + 1}\n`));
    expect(seqs(late!.seen)).toEqual(Array.from({ length: 201 }, (_, i) => i + 101));
  });

  it('exposes nothing of a batch whose write fails, and all of it once a retry writes it', async () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: NEVER });
    const told: number[] = [];
    store.log.onDurable((_id, events) => told.push(...seqs(events)));
    await store.log.append('a', [out('1')]);
    store.flush();
    const f = follower(store.log, 'a');
    await until(() => f.seen.length === 1);

    const allow = refuseEventWrites(file);
    await store.log.append('a', [out('2'), out('3')]);
    expect(() => store.flush()).toThrow(/disk says no/);
    // A follower woken by the failed write would have run by now.
    await tick(30);
    expect(seqs(f.seen)).toEqual([1]);
    expect(seqs(await store.log.read('a', 0, 10))).toEqual([1]);
    expect(await store.log.durableSeq('a')).toBe(1);
    expect(await store.log.lastSeq('a')).toBe(3);
    expect(told).toEqual([1]);

    allow();
    store.flush();
    await until(() => f.seen.length === 3);
    expect(seqs(f.seen)).toEqual([1, 2, 3]);
    expect(told).toEqual([1, 2, 3]);
    f.stop();
    await f.done;
  });

  it('hands waiting followers what closing the store writes, then ends them', async () => {
    const store = temp.open({ flushMs: NEVER });
    await store.log.append('a', [out('1')]);
    store.flush();
    const f = follower(store.log, 'a');
    await until(() => f.seen.length === 1);
    await store.log.append('a', [out('2'), out('3')]);
    store.close();
    await f.done;
    expect(seqs(f.seen)).toEqual([1, 2, 3]);
  });

  it('after a crash, numbers on from the durable seq, and no reader ever saw the events it lost', async () => {
    const file = temp.file();
    const before = temp.open({ file, flushMs: NEVER });
    const told: number[] = [];
    before.log.onDurable((_id, events) => told.push(...seqs(events)));
    const f = follower(before.log, 'a');
    await before.log.append('a', [out('kept 1'), out('kept 2'), out('kept 3')]);
    before.flush();
    await before.log.append('a', [out('lost 4'), out('lost 5')]);
    await until(() => f.seen.length === 3);
    const read = await before.log.read('a', 0, 10);
    // The crash: the last batch never reaches the file (the write fails, as a SIGKILL would stop it) and the file is closed.
    const allow = refuseEventWrites(file);
    expect(() => before.close()).toThrow(/disk says no/);
    allow();
    await f.done;

    for (const seen of [f.seen, read]) expect(seen.map((e) => (e.type === 'output' ? e.text : e.type))).toEqual(['kept 1', 'kept 2', 'kept 3']);
    expect(told).toEqual([1, 2, 3]);

    const after = temp.open({ file, flushMs: NEVER });
    expect(await after.log.lastSeq('a')).toBe(3);
    expect(await after.log.durableSeq('a')).toBe(3);
    expect(seqs(await after.log.append('a', [out('new 4'), completed()]))).toEqual([4, 5]);
    // A reader resuming after the last seq it saw gets the new events, none twice and none missed.
    const resumed = await collect(after.log.follow('a', f.seen.at(-1)!.seq, new AbortController().signal));
    expect(resumed.map((e) => [e.seq, e.type === 'output' ? e.text : e.type])).toEqual([
      [4, 'new 4'],
      [5, 'completed'],
    ]);
  });
});
