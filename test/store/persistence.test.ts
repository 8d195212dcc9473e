import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { FlushStats } from '../../src/store/sqlite.js';
import { SCHEMA_VERSION } from '../../src/store/sqlite.js';
import { at, claude, collect, commandOf, completed, out, tick, useTempFiles } from './helpers.js';

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

  it('keeps commands with their Dates, argv and Claude summary', () => {
    const file = temp.file();
    const first = temp.open({ file });
    const summary = { sessionId: 'sess-1', model: 'claude-x', result: 'done\nmore', isError: false, numTurns: 3, totalCostUsd: 0.0123, durationMs: 4567, resultSubtype: 'success' };
    const claudeRun = commandOf(1, { kind: 'CLAUDE', argv: ['claude', '-p', 'say "hi" — ünïcödé'], workdir: 'sub/dir', claude: summary });
    const shell = commandOf(2, { status: 'RUNNING', startedAt: new Date('2026-11-25T10:00:02.5Z') });
    first.commands.insert(claudeRun);
    first.commands.insert(shell);
    first.commands.update('cmd-1', { status: 'SUCCEEDED', exitCode: 0, startedAt: new Date(at.getTime() + 10), finishedAt: new Date(at.getTime() + 99), durationMs: 89 });
    first.close();

    const second = temp.open({ file });
    expect(second.commands.get('cmd-1')).toEqual({ ...claudeRun, status: 'SUCCEEDED', exitCode: 0, startedAt: new Date(at.getTime() + 10), finishedAt: new Date(at.getTime() + 99), durationMs: 89 });
    expect(second.commands.get('cmd-1')!.createdAt).toBeInstanceOf(Date);
    expect(second.commands.get('cmd-2')).toEqual(shell);
    expect(second.commands.list({ limit: 10 }).map((c) => c.id)).toEqual(['cmd-2', 'cmd-1']);
    expect(second.commands.nextOrdinal()).toBe(3);
  });

  it('keeps every event whole, and numbers new ones after them', () => {
    const file = temp.file();
    const first = temp.open({ file });
    const message = { type: 'assistant', message: { content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: 3 } }, flag: true, none: null };
    const written = first.log.append('a', [out('line 1\n'), out('warn\n', 'STDERR'), claude('hi', message), completed('FAILED', 7)]);
    first.close();

    const second = temp.open({ file });
    expect(second.log.read('a', 0, 100)).toEqual(written);
    expect(second.log.lastSeq('a')).toBe(4);
    expect(second.log.append('a', [out('again\n')]).map((e) => e.seq)).toEqual([5]);
  });

  it('writes appended events within flushMs, not at once', async () => {
    const file = temp.file();
    const batches: FlushStats[] = [];
    const store = temp.open({ file, flushMs: 40, onFlush: (s) => batches.push(s) });
    for (let i = 0; i < 100; i++) store.log.append('a', [out(`${i}\n`)]);
    expect(rowsInFile(file, 'events')).toBe(0);
    await tick(150);
    expect(rowsInFile(file, 'events')).toBe(100);
    expect(batches.map((b) => b.events)).toEqual([100]);
  });

  it('writes a batch at once when it reaches maxBatch events', () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000, maxBatch: 25 });
    for (let i = 0; i < 60; i++) store.log.append('a', [out(`${i}\n`)]);
    expect(rowsInFile(file, 'events')).toBe(50);
    // Readers see what is written (the last 10 wait for their batch).
    expect(store.log.read('a', 0, 100)).toHaveLength(50);
  });

  it('writes a batch at once when it reaches maxBatchBytes', () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000, maxBatchBytes: 100_000 });
    const chunk = 'x'.repeat(40_000);
    store.log.append('a', [out(chunk), out(chunk)]);
    expect(rowsInFile(file, 'events')).toBe(0);
    store.log.append('a', [out(chunk)]);
    expect(rowsInFile(file, 'events')).toBe(3);
  });

  it('writes a command’s final record and its completed event together, before the event loop turns', () => {
    const file = temp.file();
    const batches: FlushStats[] = [];
    const store = temp.open({ file, flushMs: 60_000, onFlush: (s) => batches.push(s) });
    store.commands.insert(commandOf(1, { status: 'RUNNING', startedAt: at }));
    store.log.append('cmd-1', [out('1\n'), out('2\n')]);
    store.commands.update('cmd-1', { status: 'SUCCEEDED', exitCode: 0, finishedAt: at, durationMs: 0 });
    store.log.append('cmd-1', [completed()]);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ events: 3, commands: 1 });
    expect(rowsInFile(file, 'events')).toBe(3);
    const other = new Database(file, { readonly: true });
    expect(other.prepare('SELECT status FROM commands').get()).toEqual({ status: 'SUCCEEDED' });
    other.close();
  });

  it('writes a final record on its own soon, when no completed event follows', async () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000 });
    store.commands.insert(commandOf(1, { status: 'RUNNING', startedAt: at }));
    store.commands.update('cmd-1', { status: 'CANCELED', finishedAt: at, durationMs: 0 });
    await Promise.resolve();
    expect(rowsInFile(file, 'commands')).toBe(1);
  });

  it('writes what is pending on close', () => {
    const file = temp.file();
    const store = temp.open({ file, flushMs: 60_000 });
    store.commands.insert(commandOf(1));
    store.log.append('cmd-1', [out('1\n')]);
    store.close();
    expect(rowsInFile(file, 'events')).toBe(1);
    expect(rowsInFile(file, 'commands')).toBe(1);
  });

  it('ends a waiting follower on close and refuses appends after it', async () => {
    const store = temp.open();
    store.log.append('a', [out('1\n')]);
    const followed = collect(store.log.follow('a', 0, new AbortController().signal));
    await tick(5);
    store.close();
    expect((await followed).map((e) => e.seq)).toEqual([1]);
    expect(() => store.log.append('a', [out('2\n')])).toThrow('the store is closed');
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

  it('keeps RUNNING and QUEUED commands as they were, with the spool position written with their events, for the run manager to adopt', () => {
    const file = temp.file();
    const before = temp.open({ file });
    before.commands.insert(commandOf(1, { status: 'RUNNING', startedAt: new Date(t0 - 3000), spool: { pgid: null, stdout: 0, stderr: 0 } }));
    before.commands.update('cmd-1', { spool: { pgid: 4242, stdout: 10, stderr: 0 } });
    before.log.append('cmd-1', [out('half\n'), out('way\n')]);
    before.commands.insert(commandOf(2));
    before.flush();
    // No close(): the process is gone.
    const after = temp.open({ file });
    expect(after.commands.get('cmd-1')).toEqual(commandOf(1, { status: 'RUNNING', startedAt: new Date(t0 - 3000), spool: { pgid: 4242, stdout: 10, stderr: 0 } }));
    expect(after.commands.get('cmd-2')).toEqual(commandOf(2, { spool: null }));
    expect(after.log.lastSeq('cmd-1')).toBe(2);
  });
});
