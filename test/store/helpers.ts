import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { createMemoryCommandStore, type CommandStore, type NewCommand } from '../../src/runs/command-store.js';
import type { EventLog } from '../../src/runs/event-log.js';
import { createMemoryEventLog } from '../../src/runs/memory-event-log.js';
import type { Command, CommandEvent, NewCommandEvent } from '../../src/runs/types.js';
import { createMemoryIdempotency, type IdempotencyStore } from '../../src/store/idempotency.js';
import { openSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite.js';

/** A fresh temporary directory per test, removed after it (stores left open are closed first). */
export function useTempFiles(): { file(name?: string): string; open(options?: Partial<SqliteStoreOptions>): SqliteStore } {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(() => {
    for (const s of stores.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const file = (name = 'history.db'): string => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rdev-store-'));
    dirs.push(dir);
    return path.join(dir, name);
  };
  return {
    file,
    open(options = {}) {
      const store = openSqliteStore({ ...options, file: options.file ?? file() });
      stores.push(store);
      return store;
    },
  };
}

/** The three stores the run manager uses, from one backend. */
export interface Stores {
  log: EventLog;
  commands: CommandStore;
  idempotency: IdempotencyStore;
  /** Writes what is pending (nothing to do in memory). */
  flush(): void;
}

/** How long events wait before a batch write, and how many make a batch (SQLite only). */
export interface StoreTuning {
  flushMs?: number;
  maxBatch?: number;
}

export type StoresFactory = (tuning?: StoreTuning) => Stores;

/** Both backends, for `describe.each`: every behaviour is tested against the memory and the SQLite implementation. */
export function backends(): Array<[string, StoresFactory]> {
  const temp = useTempFiles();
  return [
    ['memory', () => ({ log: createMemoryEventLog(), commands: createMemoryCommandStore(), idempotency: createMemoryIdempotency(), flush: () => {} })],
    [
      'sqlite',
      (tuning = {}) => {
        const store = temp.open(tuning);
        return { log: store.log, commands: store.commands, idempotency: store.idempotency, flush: () => store.flush() };
      },
    ],
  ];
}

export const at = new Date('2026-11-25T10:00:00.123Z');

export const out = (text: string, stream: 'STDOUT' | 'STDERR' = 'STDOUT'): NewCommandEvent => ({ type: 'output', stream, text, at });

export const claude = (text: string, message: unknown): NewCommandEvent => ({
  type: 'claude',
  messageType: 'assistant',
  subtype: null,
  text,
  toolName: 'Bash',
  message,
  at,
});

export const completed = (status: 'SUCCEEDED' | 'FAILED' | 'LOST' = 'SUCCEEDED', exitCode: number | null = 0): NewCommandEvent => ({
  type: 'completed',
  status,
  exitCode,
  durationMs: 1234,
  error: status === 'SUCCEEDED' ? null : 'it went wrong',
  at,
});

/**
 * A command as the run manager hands it to `insert` (the store gives the id and the ordinal);
 * `n` only tells commands apart (its argv and createdAt), `overrides` set the rest.
 */
export function draftOf(n: number, overrides: Partial<NewCommand> = {}): NewCommand {
  return {
    projectId: 'demo',
    kind: 'SHELL',
    argv: ['sh', '-c', `echo ${n}`],
    workdir: '',
    timeoutSeconds: 600,
    status: 'QUEUED',
    exitCode: null,
    error: null,
    createdAt: new Date(at.getTime() + n),
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    claude: null,
    prunedAt: null,
    spool: null,
    ...overrides,
  };
}

/** Inserts `drafts` one after the other (so their ordinals follow their order) and returns the commands the store made. */
export async function insertAll(commands: CommandStore, drafts: NewCommand[]): Promise<Command[]> {
  const inserted: Command[] = [];
  for (const d of drafts) inserted.push(await commands.insert(d));
  return inserted;
}

/** Collects what `follow` yields until it ends. */
export async function collect(events: AsyncIterable<CommandEvent>): Promise<CommandEvent[]> {
  const seen: CommandEvent[] = [];
  for await (const e of events) seen.push(e);
  return seen;
}

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
