import { describe, expect, it } from 'vitest';
import type { CommandStore } from '../../src/runs/command-store.js';
import { backends, commandOf } from './helpers.js';

/** Seven commands: ordinals 1–7 over two projects, kinds and statuses mixed. */
function seed(commands: CommandStore): void {
  const rows = [
    commandOf(1, { projectId: 'alpha', kind: 'SHELL', status: 'SUCCEEDED' }),
    commandOf(2, { projectId: 'beta', kind: 'GIT', status: 'FAILED' }),
    commandOf(3, { projectId: 'alpha', kind: 'CLAUDE', status: 'RUNNING' }),
    commandOf(4, { projectId: 'alpha', kind: 'SHELL', status: 'SUCCEEDED' }),
    commandOf(5, { projectId: 'gamma', kind: 'SHELL', status: 'QUEUED' }),
    commandOf(6, { projectId: 'beta', kind: 'CLAUDE', status: 'SUCCEEDED' }),
    commandOf(7, { projectId: 'alpha', kind: 'GIT', status: 'RUNNING' }),
  ];
  for (const c of rows) commands.insert(c);
}

const ordinals = (commands: { ordinal: number }[]): number[] => commands.map((c) => c.ordinal);

describe.each(backends())('%s command store', (_name, make) => {
  it('gives ordinal 1 first, then the one after the largest inserted', () => {
    const { commands } = make();
    expect(commands.nextOrdinal()).toBe(1);
    commands.insert(commandOf(1));
    commands.insert(commandOf(2));
    expect(commands.nextOrdinal()).toBe(3);
  });

  it('returns a command as it was inserted, and undefined for an unknown id', () => {
    const { commands } = make();
    const c = commandOf(1, { kind: 'CLAUDE', claude: { sessionId: 's', model: 'm', result: null, isError: null, numTurns: 2, totalCostUsd: 0.01, durationMs: null, resultSubtype: null } });
    commands.insert(c);
    expect(commands.get('cmd-1')).toEqual(commandOf(1, { kind: 'CLAUDE', claude: c.claude }));
    expect(commands.get('cmd-9')).toBeUndefined();
  });

  it('updates the very object the run manager inserted and returns it while the command runs', () => {
    const { commands } = make();
    const c = commandOf(1);
    commands.insert(c);
    const startedAt = new Date('2026-11-25T10:00:01Z');
    expect(commands.update('cmd-1', { status: 'RUNNING', startedAt })).toBe(c);
    expect(c.status).toBe('RUNNING');
    expect(commands.get('cmd-1')).toBe(c);
  });

  it('keeps a finished command as its last update left it', () => {
    const { commands, flush } = make();
    commands.insert(commandOf(1, { status: 'RUNNING', startedAt: new Date(1000) }));
    const finishedAt = new Date(4000);
    const updated = commands.update('cmd-1', { status: 'FAILED', exitCode: 3, error: null, finishedAt, durationMs: 3000 });
    flush();
    const expected = commandOf(1, { status: 'FAILED', startedAt: new Date(1000), exitCode: 3, finishedAt, durationMs: 3000 });
    expect(updated).toEqual(expected);
    expect(commands.get('cmd-1')).toEqual(expected);
  });

  it('refuses to update an unknown command', () => {
    const { commands } = make();
    expect(() => commands.update('cmd-9', { status: 'LOST' })).toThrow('no command cmd-9');
  });

  it('lists newest first, up to limit + 1 so a caller can tell there is more', () => {
    const { commands } = make();
    seed(commands);
    expect(ordinals(commands.list({ limit: 3 }))).toEqual([7, 6, 5, 4]);
    expect(ordinals(commands.list({ limit: 100 }))).toEqual([7, 6, 5, 4, 3, 2, 1]);
  });

  it('filters by project, set of projects, status and kind, alone and together', () => {
    const { commands } = make();
    seed(commands);
    expect(ordinals(commands.list({ projectId: 'alpha', limit: 10 }))).toEqual([7, 4, 3, 1]);
    expect(ordinals(commands.list({ projectIds: new Set(['beta', 'gamma']), limit: 10 }))).toEqual([6, 5, 2]);
    expect(ordinals(commands.list({ projectIds: new Set(), limit: 10 }))).toEqual([]);
    expect(ordinals(commands.list({ status: 'RUNNING', limit: 10 }))).toEqual([7, 3]);
    expect(ordinals(commands.list({ kind: 'CLAUDE', limit: 10 }))).toEqual([6, 3]);
    expect(ordinals(commands.list({ projectId: 'alpha', status: 'SUCCEEDED', kind: 'SHELL', limit: 10 }))).toEqual([4, 1]);
    expect(ordinals(commands.list({ projectId: 'alpha', projectIds: new Set(['beta']), limit: 10 }))).toEqual([]);
  });

  it('pages with beforeOrdinal: each page starts below the last one', () => {
    const { commands } = make();
    seed(commands);
    const pages: number[][] = [];
    let before: number | undefined;
    for (;;) {
      const rows = commands.list({ beforeOrdinal: before, limit: 2 });
      const page = rows.slice(0, 2);
      pages.push(ordinals(page));
      if (rows.length <= 2) break;
      before = page.at(-1)!.ordinal;
    }
    expect(pages).toEqual([[7, 6], [5, 4], [3, 2], [1]]);
    expect(ordinals(commands.list({ projectId: 'alpha', beforeOrdinal: 4, limit: 1 }))).toEqual([3, 1]);
  });

  it('lists a command by the status its last update gave it', () => {
    const { commands } = make();
    seed(commands);
    commands.update('cmd-3', { status: 'SUCCEEDED', exitCode: 0 });
    expect(ordinals(commands.list({ status: 'RUNNING', limit: 10 }))).toEqual([7]);
    expect(ordinals(commands.list({ status: 'SUCCEEDED', limit: 10 }))).toEqual([6, 4, 3, 1]);
  });
});
