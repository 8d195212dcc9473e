import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_WINDOW_MS } from '../../src/store/idempotency.js';
import { backends, useTempFiles } from './helpers.js';

const t0 = Date.parse('2026-11-25T10:00:00Z');

describe.each(backends())('%s idempotency', (_name, make) => {
  it('finds nothing for a key never recorded', () => {
    const { idempotency } = make();
    expect(idempotency.find('bot', 'k1', t0)).toBeUndefined();
  });

  it('finds the command a caller recorded with a key, and only for that caller and key', () => {
    const { idempotency } = make();
    idempotency.record('bot', 'k1', 'cmd-1', t0);
    expect(idempotency.find('bot', 'k1', t0 + 1000)).toBe('cmd-1');
    expect(idempotency.find('other-bot', 'k1', t0 + 1000)).toBeUndefined();
    expect(idempotency.find('bot', 'k2', t0 + 1000)).toBeUndefined();
  });

  it('forgets a key 24 hours after it was recorded', () => {
    const { idempotency } = make();
    idempotency.record('bot', 'k1', 'cmd-1', t0);
    expect(idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS - 1)).toBe('cmd-1');
    expect(idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS)).toBeUndefined();
  });

  it('lets an expired key name a new command', () => {
    const { idempotency } = make();
    idempotency.record('bot', 'k1', 'cmd-1', t0);
    idempotency.record('bot', 'k1', 'cmd-2', t0 + IDEMPOTENCY_WINDOW_MS + 5);
    expect(idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS + 10)).toBe('cmd-2');
  });

  it('keeps unexpired keys while expired ones are dropped', () => {
    const { idempotency } = make();
    idempotency.record('bot', 'old', 'cmd-1', t0);
    idempotency.record('bot', 'young', 'cmd-2', t0 + IDEMPOTENCY_WINDOW_MS - 100);
    idempotency.record('bot', 'new', 'cmd-3', t0 + IDEMPOTENCY_WINDOW_MS + 1);
    expect(idempotency.find('bot', 'young', t0 + IDEMPOTENCY_WINDOW_MS + 2)).toBe('cmd-2');
    expect(idempotency.find('bot', 'old', t0 + IDEMPOTENCY_WINDOW_MS + 2)).toBeUndefined();
  });
});

describe('sqlite idempotency across restarts', () => {
  const temp = useTempFiles();

  it('still finds a key after the store is closed and opened again, and forgets it after 24 hours', () => {
    const file = temp.file();
    const first = temp.open({ file });
    first.commands.insert({
      id: 'cmd-1',
      ordinal: 1,
      projectId: 'demo',
      kind: 'GIT',
      argv: ['git', 'push'],
      workdir: '',
      timeoutSeconds: 600,
      status: 'QUEUED',
      exitCode: null,
      error: null,
      createdAt: new Date(t0),
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      claude: null,
      prunedAt: null,
    });
    first.idempotency.record('bot', 'push-1', 'cmd-1', t0);
    first.close();

    const second = temp.open({ file });
    expect(second.idempotency.find('bot', 'push-1', t0 + 60_000)).toBe('cmd-1');
    expect(second.commands.get('cmd-1')?.argv).toEqual(['git', 'push']);
    expect(second.idempotency.find('bot', 'push-1', t0 + IDEMPOTENCY_WINDOW_MS)).toBeUndefined();
  });
});
