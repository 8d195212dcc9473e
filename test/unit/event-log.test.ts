import { describe, expect, it } from 'vitest';
import { createMemoryEventLog } from '../../src/runs/memory-event-log.js';

const at = new Date(0);
const out = (text: string) => ({ type: 'output' as const, stream: 'STDOUT' as const, text, at });

describe('memory event log', () => {
  it('numbers events 1, 2, 3 per command', async () => {
    const log = createMemoryEventLog();
    expect((await log.append('a', [out('x'), out('y')])).map((e) => e.seq)).toEqual([1, 2]);
    expect((await log.append('b', [out('z')])).map((e) => e.seq)).toEqual([1]);
    expect((await log.append('a', [out('w')])).map((e) => e.seq)).toEqual([3]);
  });

  it('reads after a seq with a limit', async () => {
    const log = createMemoryEventLog();
    await log.append('a', [out('1'), out('2'), out('3'), out('4')]);
    expect((await log.read('a', 1, 2)).map((e) => e.seq)).toEqual([2, 3]);
  });

  it('follows: replays, then waits for appends, and ends after completion', async () => {
    const log = createMemoryEventLog();
    await log.append('a', [out('1')]);
    const seen: number[] = [];
    const done = (async () => {
      for await (const e of log.follow('a', 0, new AbortController().signal)) seen.push(e.seq);
    })();
    await new Promise((r) => setTimeout(r, 10));
    await log.append('a', [out('2')]);
    await log.append('a', [{ type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 1, error: null, at }]);
    await done;
    expect(seen).toEqual([1, 2, 3]);
  });

  it('gives a follower that fell behind by more than it may hold every event once and in order (it reads the log again)', async () => {
    const log = createMemoryEventLog();
    await log.append('a', [out('first')]);
    const follower = log.follow('a', 0, new AbortController().signal)[Symbol.asyncIterator]();
    const seen = [(await follower.next()).value!.seq];
    // 30 appends of 1,000 lines while the follower does not look: more than its inbox holds.
    for (let i = 0; i < 30; i++)
      await log.append(
        'a',
        Array.from({ length: 1000 }, (_, j) => out(`${i}.${j}`)),
      );
    await log.append('a', [{ type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 1, error: null, at }]);
    for (let r = await follower.next(); !r.done; r = await follower.next()) seen.push(r.value.seq);
    expect(seen).toEqual(Array.from({ length: 30_002 }, (_, i) => i + 1));
  });

  it('hands each append to every follower of the command, each event once and in order', async () => {
    const log = createMemoryEventLog();
    const followers = Array.from({ length: 3 }, async () => {
      const seen: number[] = [];
      for await (const e of log.follow('a', 0, new AbortController().signal)) seen.push(e.seq);
      return seen;
    });
    for (let i = 0; i < 5; i++) await log.append('a', [out(`${i}`), out(`${i}'`)]);
    await log.append('a', [{ type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 1, error: null, at }]);
    for (const seen of await Promise.all(followers)) expect(seen).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
  });

  it('stops following when the signal aborts', async () => {
    const log = createMemoryEventLog();
    const controller = new AbortController();
    const done = (async () => {
      for await (const _ of log.follow('idle', 0, controller.signal)) void _;
      return 'ended';
    })();
    controller.abort();
    await expect(done).resolves.toBe('ended');
  });
});
