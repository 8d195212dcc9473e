import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { FlushStats } from '../../src/store/sqlite.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite.js';
import { at, claude, collect, completed, draftOf, out, tick, useTempFiles } from './helpers.js';

/** Counts rows with a second connection, as another process would see the file. */
function rowsInFile(file: string, table: 'events' | 'commands'): number {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('sqlite store: what survives a close and a reopen', () => {
  const temp = useTempFiles();

  it('keeps commands with their Dates, argv and Claude summary, and numbers new ones after them', async () => {
    const file = temp.file();
    const first = temp.open({ file });
    const summary = {
      sessionId: 'sess-1',
      model: 'claude-x',
      result: 'done\nmore',
      isError: false,
      numTurns: 3,
      totalCostUsd: 0.0123,
      durationMs: 4567,
      resultSubtype: 'success',
    };
    const claudeRun = await first.commands.insert(
      draftOf(1, { kind: 'CLAUDE', argv: ['claude', '-p', 'say "hi" — ünïcödé'], workdir: 'sub/dir', claude: summary }),
    );
    const claudeDraft = { ...claudeRun };
    const shell = { ...(await first.commands.insert(draftOf(2, { status: 'RUNNING', startedAt: new Date('2026-11-25T10:00:02.5Z') }))) };
    await first.commands.update(claudeRun.id, {
      status: 'SUCCEEDED',
      exitCode: 0,
      startedAt: new Date(at.getTime() + 10),
      finishedAt: new Date(at.getTime() + 99),
      durationMs: 89,
    });
    first.close();

    const second = temp.open({ file });
    expect(await second.commands.get(claudeRun.id)).toEqual({
      ...claudeDraft,
      status: 'SUCCEEDED',
      exitCode: 0,
      startedAt: new Date(at.getTime() + 10),
      finishedAt: new Date(at.getTime() + 99),
      durationMs: 89,
    });
    expect((await second.commands.get(claudeRun.id))!.createdAt).toBeInstanceOf(Date);
    expect(await second.commands.get(shell.id)).toEqual(shell);
    expect((await second.commands.list({ limit: 10 })).map((c) => c.id)).toEqual([shell.id, claudeRun.id]);
    // A reopened store continues the ordinals of the file.
    const third = await second.commands.insert(draftOf(3));
    expect(third.ordinal).toBe(3);
    expect(third.id).toMatch(/^cmd-demo-0003[0-9a-f]{6}$/);
  });

  it('keeps every event whole, and numbers new ones after them', async () => {
    const file = temp.file();
    const first = temp.open({ file });
    const message = { type: 'assistant', message: { content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 3 } }, flag: true, none: null };
    const written = await first.log.append('a', [out('line 1\n'), out('warn\n', 'STDERR'), claude('hi', message), completed('FAILED', 7)]);
    first.close();

    const second = temp.open({ file });
    expect(await second.log.read('a', 0, 100)).toEqual(written);
    expect(await second.log.lastSeq('a')).toBe(4);
    expect((await second.log.append('a', [out('again\n')])).map((e) => e.seq)).toEqual([5]);
  });

  it('writes appended events within flushMs, not at once', async () => {
    const file = temp.file();
    const batches: FlushStats[] = [];
    const store = temp.open({ file, flushMs: 40, onFlush: (s) => batches.push(s) });
    for (let i = 0; i < 100; i++) await store.log.append('a', [out(`${i}\n`)]);
    expect(rowsInFile(file, 'events')).toBe(0);
    await tick(150);
    expect(rowsInFile(file, 'events')).toBe(100);
    expect(batches.map((b) => b.events)).toEqual([100]);
  });

  it('writes a batch at once when it reaches maxBatch events', async () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000, maxBatch: 25 });
    for (let i = 0; i < 60; i++) await store.log.append('a', [out(`${i}\n`)]);
    expect(rowsInFile(file, 'events')).toBe(50);
    // Readers see what is written (the last 10 wait for their batch).
    expect(await store.log.read('a', 0, 100)).toHaveLength(50);
  });

  it('writes a batch at once when it reaches maxBatchBytes', async () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000, maxBatchBytes: 100_000 });
    const chunk = 'x'.repeat(40_000);
    await store.log.append('a', [out(chunk), out(chunk)]);
    expect(rowsInFile(file, 'events')).toBe(0);
    await store.log.append('a', [out(chunk)]);
    expect(rowsInFile(file, 'events')).toBe(3);
  });

  it('writes a command’s final record and its completed event together, before the event loop turns', async () => {
    const file = temp.file();
    const batches: FlushStats[] = [];
    const store = temp.open({ file, flushMs: 60_000, onFlush: (s) => batches.push(s) });
    const c = await store.commands.insert(draftOf(1, { status: 'RUNNING', startedAt: at }));
    await store.log.append(c.id, [out('1\n'), out('2\n')]);
    // As finishCommand does: the final update and the completed event are both under way before either is awaited.
    const updated = store.commands.update(c.id, { status: 'SUCCEEDED', exitCode: 0, finishedAt: at, durationMs: 0 });
    const appended = store.log.append(c.id, [completed()]);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ events: 3, commands: 1 });
    expect(rowsInFile(file, 'events')).toBe(3);
    const other = new Database(file, { readonly: true });
    expect(other.prepare('SELECT status FROM commands').get()).toEqual({ status: 'SUCCEEDED' });
    other.close();
    await Promise.all([updated, appended]);
    expect(batches).toHaveLength(1);
  });

  it('writes a final record on its own soon, when no completed event follows', async () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000 });
    const c = await store.commands.insert(draftOf(1, { status: 'RUNNING', startedAt: at }));
    const updated = store.commands.update(c.id, { status: 'CANCELED', finishedAt: at, durationMs: 0 });
    await Promise.resolve();
    expect(rowsInFile(file, 'commands')).toBe(1);
    // The update resolves once the record is durable: no flushMs wait.
    expect(await updated).toBe(c);
    const other = new Database(file, { readonly: true });
    expect(other.prepare('SELECT status FROM commands').get()).toEqual({ status: 'CANCELED' });
    other.close();
  });

  it('writes what is pending on close', async () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000 });
    const c = await store.commands.insert(draftOf(1));
    await store.log.append(c.id, [out('1\n')]);
    store.close();
    expect(rowsInFile(file, 'events')).toBe(1);
    expect(rowsInFile(file, 'commands')).toBe(1);
  });

  it('ends a waiting follower on close and refuses appends after it', async () => {
    const store = temp.open();
    await store.log.append('a', [out('1\n')]);
    const followed = collect(store.log.follow('a', 0, new AbortController().signal));
    await tick(5);
    store.close();
    expect((await followed).map((e) => e.seq)).toEqual([1]);
    await expect(store.log.append('a', [out('2\n')])).rejects.toThrow('the store is closed');
  });

  it('creates the directory of a new file', () => {
    const file = path.join(path.dirname(temp.file()), 'data', 'dir', 'history.db');
    temp.open({ file }).close();
    expect(rowsInFile(file, 'commands')).toBe(0);
  });

  it('uses WAL and records its schema version', () => {
    const file = temp.file();
    temp.open({ file }).close();
    const db = new Database(file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
  });

  it('refuses a file written by a newer schema', () => {
    const file = temp.file();
    temp.open({ file }).close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => temp.open({ file })).toThrow(`schema version ${SCHEMA_VERSION + 1} is newer than this build understands (${SCHEMA_VERSION})`);
  });
});

describe('sqlite store: what a restart finds', () => {
  const temp = useTempFiles();
  const t0 = Date.parse('2026-11-25T12:00:00Z');

  it('keeps RUNNING and QUEUED commands as they were, with the spool position written with their events, for the run manager to adopt', async () => {
    const file = temp.file();
    const before = temp.open({ file });
    const one = await before.commands.insert(draftOf(1, { status: 'RUNNING', startedAt: new Date(t0 - 3000), spool: { pgid: null, stdout: 0, stderr: 0 } }));
    // Not awaited: the spool position and the events it covers go into the file in one write.
    const moved = before.commands.update(one.id, { spool: { pgid: 4242, stdout: 10, stderr: 0 } });
    const appended = before.log.append(one.id, [out('half\n'), out('way\n')]);
    const two = await before.commands.insert(draftOf(2));
    before.flush();
    await Promise.all([moved, appended]);
    // No close(): the process is gone.
    const after = temp.open({ file });
    expect(await after.commands.get(one.id)).toEqual({
      ...draftOf(1, { status: 'RUNNING', startedAt: new Date(t0 - 3000), spool: { pgid: 4242, stdout: 10, stderr: 0 } }),
      id: one.id,
      ordinal: 1,
    });
    expect(await after.commands.get(two.id)).toEqual({ ...draftOf(2, { spool: null }), id: two.id, ordinal: 2 });
    expect(await after.log.lastSeq(one.id)).toBe(2);
  });
});
