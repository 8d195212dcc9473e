import { describe, expect, it } from 'vitest';
import type { Project } from '../../src/projects/registry.js';
import { createProjectEvents, type ProjectEvent } from '../../src/runs/project-events.js';

const statusOf = (i: number): ProjectEvent => ({
  type: 'project-status',
  projectId: 'p',
  project: { id: 'p', status: 'READY', statusMessage: `n${i}`, pod: null, workspace: '/w' } as Project,
});
const numberOf = (e: ProjectEvent): number => Number((e as { project: { statusMessage: string } }).project.statusMessage.slice(1));

describe('projectEvents', () => {
  it('ends a subscriber that falls more than maxQueued events behind, after the events it holds, with SLOW_SUBSCRIBER', async () => {
    const events = createProjectEvents({ maxQueued: 3 });
    const ac = new AbortController();
    const it = events.subscribe('p', ac.signal)[Symbol.asyncIterator]();
    const first = it.next(); // subscribed once the generator runs
    events.publish(statusOf(0));
    expect(numberOf((await first).value)).toBe(0);
    // It reads nothing while 5 more are published: 3 are held, the 4th is one too many.
    for (let i = 1; i <= 5; i++) events.publish(statusOf(i));
    const got: number[] = [];
    let error: unknown;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        got.push(numberOf(r.value));
      }
    } catch (err) {
      error = err;
    }
    expect(got).toEqual([1, 2, 3]);
    expect(error).toMatchObject({
      message: "this subscription fell more than 3 events behind and was ended: subscribe again (commandEvents with `after` replays a command's events)",
      extensions: { code: 'SLOW_SUBSCRIBER', maxQueued: 3 },
    });
    expect(events.subscriberCount('p')).toBe(0);
  });

  it('never ends a subscriber that keeps up, and other subscribers are not held back by a slow one', async () => {
    const events = createProjectEvents({ maxQueued: 2 });
    const ac = new AbortController();
    const slow = events.subscribe('p', new AbortController().signal)[Symbol.asyncIterator]();
    const fast = events.subscribe('p', ac.signal)[Symbol.asyncIterator]();
    const slowFirst = slow.next();
    const got: number[] = [];
    for (let i = 0; i < 50; i++) {
      const next = fast.next();
      events.publish(statusOf(i));
      got.push(numberOf((await next).value));
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(numberOf((await slowFirst).value)).toBe(0);
    await expect(slow.next()).resolves.toMatchObject({ done: false });
    await expect(slow.next()).resolves.toMatchObject({ done: false });
    await expect(slow.next()).rejects.toMatchObject({ extensions: { code: 'SLOW_SUBSCRIBER' } });
    expect(events.subscriberCount('p')).toBe(1);
    ac.abort();
    await expect(fast.next()).resolves.toEqual({ done: true, value: undefined });
    expect(events.subscriberCount()).toBe(0);
  });
});
