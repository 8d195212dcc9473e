import { describe, expect, it } from 'vitest';
import type { CommandStore } from '../../src/runs/command-store.js';
import type { Command } from '../../src/runs/types.js';
import { backends, draftOf, insertAll } from './helpers.js';

/** Seven commands: ordinals 1–7 (the store gives them in insert order) over two projects, kinds and statuses mixed. */
function seed(commands: CommandStore): Promise<Command[]> {
  return insertAll(commands, [
    draftOf(1, { projectId: 'alpha', kind: 'SHELL', status: 'SUCCEEDED' }),
    draftOf(2, { projectId: 'beta', kind: 'GIT', status: 'FAILED' }),
    draftOf(3, { projectId: 'alpha', kind: 'CLAUDE', status: 'RUNNING' }),
    draftOf(4, { projectId: 'alpha', kind: 'SHELL', status: 'SUCCEEDED' }),
    draftOf(5, { projectId: 'gamma', kind: 'SHELL', status: 'QUEUED' }),
    draftOf(6, { projectId: 'beta', kind: 'CLAUDE', status: 'SUCCEEDED' }),
    draftOf(7, { projectId: 'alpha', kind: 'GIT', status: 'RUNNING' }),
  ]);
}

const ordinals = (commands: { ordinal: number }[]): number[] => commands.map((c) => c.ordinal);

/** An id of the form the store gives (see commandIdOf) that no test inserts. */
const UNKNOWN = 'cmd-demo-00zz000000';

describe.each(backends())('%s command store', (_name, make) => {
  it('gives ordinals 1, 2, 3 in insert order, and ids cmd-<project>-<ordinal in base 36, 4 wide><6 hex>', async () => {
    const { commands } = make();
    const inserted = await insertAll(commands, [draftOf(1), draftOf(2, { projectId: 'other-project' }), draftOf(3)]);
    expect(ordinals(inserted)).toEqual([1, 2, 3]);
    expect(inserted[0]!.id).toMatch(/^cmd-demo-0001[0-9a-f]{6}$/);
    expect(inserted[1]!.id).toMatch(/^cmd-other-project-0002[0-9a-f]{6}$/);
    expect(inserted[2]!.id).toMatch(/^cmd-demo-0003[0-9a-f]{6}$/);
  });

  it('returns a command as it was inserted, and undefined for an unknown id', async () => {
    const { commands } = make();
    const draft = draftOf(1, {
      kind: 'CLAUDE',
      claude: { sessionId: 's', model: 'm', result: null, isError: null, numTurns: 2, totalCostUsd: 0.01, durationMs: null, resultSubtype: null },
    });
    const c = await commands.insert(draft);
    expect(c).toEqual({ ...draftOf(1, { kind: 'CLAUDE', claude: draft.claude }), id: c.id, ordinal: 1 });
    expect(await commands.get(c.id)).toEqual({ ...draftOf(1, { kind: 'CLAUDE', claude: draft.claude }), id: c.id, ordinal: 1 });
    expect(await commands.get(UNKNOWN)).toBeUndefined();
  });

  it('updates the very object insert returned, at once, and resolves with it while the command runs', async () => {
    const { commands } = make();
    const c = await commands.insert(draftOf(1));
    const startedAt = new Date('2026-11-25T10:00:01Z');
    const updating = commands.update(c.id, { status: 'RUNNING', startedAt });
    // The patch is on the live record before the write is durable.
    expect(c.status).toBe('RUNNING');
    expect(c.startedAt).toBe(startedAt);
    expect(await updating).toBe(c);
    expect(await commands.get(c.id)).toBe(c);
  });

  it('keeps a finished command as its last update left it', async () => {
    const { commands, flush } = make();
    const c = await commands.insert(draftOf(1, { status: 'RUNNING', startedAt: new Date(1000) }));
    const finishedAt = new Date(4000);
    const updating = commands.update(c.id, { status: 'FAILED', exitCode: 3, error: null, finishedAt, durationMs: 3000 });
    flush();
    const updated = await updating;
    const expected = { ...draftOf(1, { status: 'FAILED', startedAt: new Date(1000), exitCode: 3, finishedAt, durationMs: 3000 }), id: c.id, ordinal: 1 };
    expect(updated).toEqual(expected);
    expect(await commands.get(c.id)).toEqual(expected);
  });

  it('refuses to update an unknown command', async () => {
    const { commands } = make();
    await expect(commands.update(UNKNOWN, { status: 'LOST' })).rejects.toThrow(`no command ${UNKNOWN}`);
  });

  it('lists newest first, up to limit + 1 so a caller can tell there is more', async () => {
    const { commands } = make();
    await seed(commands);
    expect(ordinals(await commands.list({ limit: 3 }))).toEqual([7, 6, 5, 4]);
    expect(ordinals(await commands.list({ limit: 100 }))).toEqual([7, 6, 5, 4, 3, 2, 1]);
  });

  it('filters by project, set of projects, status and kind, alone and together', async () => {
    const { commands } = make();
    await seed(commands);
    expect(ordinals(await commands.list({ projectId: 'alpha', limit: 10 }))).toEqual([7, 4, 3, 1]);
    expect(ordinals(await commands.list({ projectIds: new Set(['beta', 'gamma']), limit: 10 }))).toEqual([6, 5, 2]);
    expect(ordinals(await commands.list({ projectIds: new Set(), limit: 10 }))).toEqual([]);
    expect(ordinals(await commands.list({ status: 'RUNNING', limit: 10 }))).toEqual([7, 3]);
    expect(ordinals(await commands.list({ kind: 'CLAUDE', limit: 10 }))).toEqual([6, 3]);
    expect(ordinals(await commands.list({ projectId: 'alpha', status: 'SUCCEEDED', kind: 'SHELL', limit: 10 }))).toEqual([4, 1]);
    expect(ordinals(await commands.list({ projectId: 'alpha', projectIds: new Set(['beta']), limit: 10 }))).toEqual([]);
  });

  it('pages with beforeOrdinal: each page starts below the last one', async () => {
    const { commands } = make();
    await seed(commands);
    const pages: number[][] = [];
    let before: number | undefined;
    for (;;) {
      const rows = await commands.list({ beforeOrdinal: before, limit: 2 });
      const page = rows.slice(0, 2);
      pages.push(ordinals(page));
      if (rows.length <= 2) break;
      before = page.at(-1)!.ordinal;
    }
    expect(pages).toEqual([[7, 6], [5, 4], [3, 2], [1]]);
    expect(ordinals(await commands.list({ projectId: 'alpha', beforeOrdinal: 4, limit: 1 }))).toEqual([3, 1]);
  });

  it('lists a command by the status its last update gave it, before and after that update is durable', async () => {
    const { commands } = make();
    const seeded = await seed(commands);
    const updating = commands.update(seeded[2]!.id, { status: 'SUCCEEDED', exitCode: 0 });
    expect(ordinals(await commands.list({ status: 'RUNNING', limit: 10 }))).toEqual([7]);
    expect(ordinals(await commands.list({ status: 'SUCCEEDED', limit: 10 }))).toEqual([6, 4, 3, 1]);
    await updating;
    expect(ordinals(await commands.list({ status: 'RUNNING', limit: 10 }))).toEqual([7]);
    expect(ordinals(await commands.list({ status: 'SUCCEEDED', limit: 10 }))).toEqual([6, 4, 3, 1]);
  });
});
