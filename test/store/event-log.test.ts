import { describe, expect, it } from 'vitest';
import { at, backends, claude, collect, completed, out, tick } from './helpers.js';

describe.each(backends())('%s event log', (_name, make) => {
  it('numbers events 1, 2, 3 per command and returns them with their seq', async () => {
    const { log } = make();
    expect(await log.append('a', [out('x\n'), out('y\n')])).toEqual([
      { type: 'output', seq: 1, stream: 'STDOUT', text: 'x\n', at },
      { type: 'output', seq: 2, stream: 'STDOUT', text: 'y\n', at },
    ]);
    expect((await log.append('b', [out('z\n')])).map((e) => e.seq)).toEqual([1]);
    expect((await log.append('a', [out('w\n')])).map((e) => e.seq)).toEqual([3]);
  });

  it('appends nothing for an empty list', async () => {
    const { log } = make();
    await log.append('a', [out('x\n')]);
    expect(await log.append('a', [])).toEqual([]);
    expect(await log.lastSeq('a')).toBe(1);
  });

  it('knows the last seq of each command, 0 for one without events', async () => {
    const { log } = make();
    expect(await log.lastSeq('a')).toBe(0);
    await log.append('a', [out('1'), out('2')]);
    expect(await log.lastSeq('a')).toBe(2);
    expect(await log.lastSeq('b')).toBe(0);
  });

  it('reads every kind of event back whole, after a seq, at most `limit`', async () => {
    const { log } = make();
    await log.append('a', [
      out('1\n'),
      out('oops\n', 'STDERR'),
      claude('hello', { type: 'assistant', content: [{ text: 'hello' }], n: 1.5 }),
      completed('FAILED', 2),
    ]);
    expect(await log.read('a', 1, 2)).toEqual([
      { type: 'output', seq: 2, stream: 'STDERR', text: 'oops\n', at },
      {
        type: 'claude',
        seq: 3,
        messageType: 'assistant',
        subtype: null,
        text: 'hello',
        toolName: 'Bash',
        message: { type: 'assistant', content: [{ text: 'hello' }], n: 1.5 },
        at,
      },
    ]);
    expect(await log.read('a', 3, 10)).toEqual([{ type: 'completed', seq: 4, status: 'FAILED', exitCode: 2, durationMs: 1234, error: 'it went wrong', at }]);
    expect(await log.read('a', 4, 10)).toEqual([]);
    expect(await log.read('nobody', 0, 10)).toEqual([]);
  });

  it('reads across batches as one log once they are written', async () => {
    const { log, flush } = make({ flushMs: 60_000, maxBatch: 3 });
    for (let i = 1; i <= 10; i++) await log.append('a', [out(`${i}\n`)]);
    flush();
    expect((await log.read('a', 0, 100)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect((await log.read('a', 4, 3)).map((e) => e.seq)).toEqual([5, 6, 7]);
    expect((await log.read('a', 8, 3)).map((e) => e.seq)).toEqual([9, 10]);
  });

  it('knows the durable seq of each command: the last one readers can see', async () => {
    const { log, flush } = make({ flushMs: 60_000 });
    expect(await log.durableSeq('a')).toBe(0);
    await log.append('a', [out('1'), out('2')]);
    flush();
    expect(await log.durableSeq('a')).toBe(2);
    expect((await log.read('a', 0, 10)).map((e) => e.seq)).toEqual([1, 2]);
    expect(await log.durableSeq('b')).toBe(0);
  });

  it('tells onDurable listeners of every event once, per command and in order, until they unsubscribe', async () => {
    const { log, flush } = make({ flushMs: 60_000 });
    const told: Array<[string, number[]]> = [];
    const stop = log.onDurable((commandId, events) => told.push([commandId, events.map((e) => e.seq)]));
    await log.append('a', [out('1'), out('2')]);
    await log.append('b', [out('1')]);
    await log.append('a', [out('3')]);
    flush();
    stop();
    await log.append('a', [out('4')]);
    flush();
    // Memory tells at each append, SQLite once per command and commit: the same events either way.
    const seqsOf = (id: string): number[] => told.filter(([c]) => c === id).flatMap(([, seqs]) => seqs);
    expect(seqsOf('a')).toEqual([1, 2, 3]);
    expect(seqsOf('b')).toEqual([1]);
  });

  it('keeps telling the other onDurable listeners, and appending, when one throws', async () => {
    const { log, flush } = make({ flushMs: 60_000 });
    const told: number[] = [];
    log.onDurable(() => {
      throw new Error('listener bug');
    });
    log.onDurable((_id, events) => told.push(...events.map((e) => e.seq)));
    expect((await log.append('a', [out('1')])).map((e) => e.seq)).toEqual([1]);
    flush();
    expect(told).toEqual([1]);
    expect((await log.read('a', 0, 10)).map((e) => e.seq)).toEqual([1]);
  });

  it('follows: replays what is stored, waits for appends, and ends after the completion', async () => {
    const { log } = make();
    await log.append('a', [out('1\n')]);
    const followed = collect(log.follow('a', 0, new AbortController().signal));
    await tick(10);
    await log.append('a', [out('2\n')]);
    await tick(10);
    await log.append('a', [completed(), out('after the end\n')]);
    expect((await followed).map((e) => [e.seq, e.type])).toEqual([
      [1, 'output'],
      [2, 'output'],
      [3, 'completed'],
    ]);
  });

  it('follows from the seq it is given', async () => {
    const { log } = make();
    await log.append('a', [out('1'), out('2'), out('3'), completed()]);
    expect((await collect(log.follow('a', 2, new AbortController().signal))).map((e) => e.seq)).toEqual([3, 4]);
  });

  it('stops following when the signal aborts while it waits', async () => {
    const { log, flush } = make();
    await log.append('a', [out('1')]);
    flush();
    const controller = new AbortController();
    const followed = collect(log.follow('a', 0, controller.signal));
    await tick(10);
    controller.abort();
    expect((await followed).map((e) => e.seq)).toEqual([1]);
  });

  it('yields nothing for a signal that is already aborted', async () => {
    const { log } = make();
    await log.append('a', [out('1')]);
    expect(await collect(log.follow('a', 0, AbortSignal.abort()))).toEqual([]);
  });

  it('follows events as they become durable (memory: at the append; SQLite: at the commit)', async () => {
    const { log, flush } = make({ flushMs: 60_000 });
    const controller = new AbortController();
    const seen: number[] = [];
    const followed = (async () => {
      for await (const e of log.follow('a', 0, controller.signal)) {
        seen.push(e.seq);
        if (seen.length === 3) controller.abort();
      }
    })();
    await log.append('a', [out('1\n')]);
    flush();
    await tick(5);
    await log.append('a', [out('2\n'), out('3\n')]);
    flush();
    const stuck = setTimeout(() => controller.abort(), 2000);
    await followed;
    clearTimeout(stuck);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('misses no event of a producer that appends one at a time across many batch writes', async () => {
    const { log } = make({ flushMs: 1, maxBatch: 7 });
    const followed = collect(log.follow('a', 0, new AbortController().signal));
    for (let i = 1; i <= 500; i++) {
      await log.append('a', [out(`${i}\n`)]);
      if (i % 3 === 0) await new Promise((r) => setImmediate(r));
      if (i % 50 === 0) await tick(2);
    }
    await log.append('a', [completed()]);
    const seen = await followed;
    expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: 501 }, (_, i) => i + 1));
    expect(seen.slice(0, 500).map((e) => (e.type === 'output' ? e.text : ''))).toEqual(Array.from({ length: 500 }, (_, i) => `${i + 1}\n`));
  });

  it('wakes a follower for an append made in the microtasks right after it read the last event', async () => {
    // flushMs 0: every append commits at once, so the commit lands in those microtasks too.
    const { log } = make({ flushMs: 0 });
    const controller = new AbortController();
    const stuck = setTimeout(() => controller.abort(), 2000);
    await log.append('a', [out('1')]);
    const seen: number[] = [];
    for await (const e of log.follow('a', 0, controller.signal)) {
      seen.push(e.seq);
      const next = e.seq < 60 ? [out(String(e.seq + 1))] : [completed()];
      // 0 to 7 microtask hops later: one of them lands between the follower's empty read and its wait, if those were apart.
      let hop: Promise<void> = Promise.resolve();
      for (let i = 0; i < e.seq % 8; i++) hop = hop.then(() => undefined);
      void hop.then(() => log.append('a', next));
    }
    clearTimeout(stuck);
    expect(seen).toEqual(Array.from({ length: 61 }, (_, i) => i + 1));
  });

  it('lets two followers of one command see the same events', async () => {
    const { log } = make();
    const one = collect(log.follow('a', 0, new AbortController().signal));
    const two = collect(log.follow('a', 0, new AbortController().signal));
    await tick(5);
    await log.append('a', [out('1'), out('2')]);
    await tick(5);
    await log.append('a', [completed()]);
    expect((await one).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(await two).toEqual(await one);
  });
});
