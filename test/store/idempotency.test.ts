import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_WINDOW_MS } from '../../src/store/idempotency.js';
import { backends, draftOf, useTempFiles } from './helpers.js';

const t0 = Date.parse('2026-11-25T10:00:00Z');

describe.each(backends())('%s idempotency', (_name, make) => {
  it('finds nothing for a key never recorded', async () => {
    const { idempotency } = make();
    expect(await idempotency.find('bot', 'k1', t0)).toBeUndefined();
  });

  it('finds the command a caller recorded with a key, and only for that caller and key', async () => {
    const { idempotency } = make();
    await idempotency.record('bot', 'k1', 'cmd-1', t0);
    expect(await idempotency.find('bot', 'k1', t0 + 1000)).toBe('cmd-1');
    expect(await idempotency.find('other-bot', 'k1', t0 + 1000)).toBeUndefined();
    expect(await idempotency.find('bot', 'k2', t0 + 1000)).toBeUndefined();
  });

  it('forgets a key 24 hours after it was recorded', async () => {
    const { idempotency } = make();
    await idempotency.record('bot', 'k1', 'cmd-1', t0);
    expect(await idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS - 1)).toBe('cmd-1');
    expect(await idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS)).toBeUndefined();
  });

  it('lets an expired key name a new command', async () => {
    const { idempotency } = make();
    await idempotency.record('bot', 'k1', 'cmd-1', t0);
    await idempotency.record('bot', 'k1', 'cmd-2', t0 + IDEMPOTENCY_WINDOW_MS + 5);
    expect(await idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS + 10)).toBe('cmd-2');
  });

  it('keeps unexpired keys while expired ones are dropped', async () => {
    const { idempotency } = make();
    await idempotency.record('bot', 'old', 'cmd-1', t0);
    await idempotency.record('bot', 'young', 'cmd-2', t0 + IDEMPOTENCY_WINDOW_MS - 100);
    await idempotency.record('bot', 'new', 'cmd-3', t0 + IDEMPOTENCY_WINDOW_MS + 1);
    expect(await idempotency.find('bot', 'young', t0 + IDEMPOTENCY_WINDOW_MS + 2)).toBe('cmd-2');
    expect(await idempotency.find('bot', 'old', t0 + IDEMPOTENCY_WINDOW_MS + 2)).toBeUndefined();
  });
});

describe('sqlite idempotency across restarts', () => {
  const temp = useTempFiles();

  it('still finds a key after the store is closed and opened again, and forgets it after 24 hours', async () => {
    const file = temp.file();
    const first = temp.open({ file });
    const { id } = await first.commands.insert(draftOf(1, { kind: 'GIT', argv: ['git', 'push'], createdAt: new Date(t0) }));
    await first.idempotency.record('bot', 'push-1', id, t0);
    first.close();

    const second = temp.open({ file });
    expect(await second.idempotency.find('bot', 'push-1', t0 + 60_000)).toBe(id);
    expect((await second.commands.get(id))?.argv).toEqual(['git', 'push']);
    expect(await second.idempotency.find('bot', 'push-1', t0 + IDEMPOTENCY_WINDOW_MS)).toBeUndefined();
  });
});
