import type Database from 'better-sqlite3';
import { commandIdOf, matchesQuery, type CommandQuery, type CommandStore } from '../runs/command-store.js';
import { isFinal, type Command } from '../runs/types.js';
import { commandOf, type CommandRow } from './rows.js';
import type { WriteQueue } from './write-queue.js';

/** What retention removed from a command (see `prune` in retention.ts). */
export interface PrunedInfo {
  /** When its output events were deleted; null while it has them all. */
  prunedAt: Date | null;
  prunedEvents: number;
  prunedBytes: number;
}

/** A {@link CommandStore} in SQLite, which also tells what retention removed. Ordinals count on from the file's largest. */
export interface SqliteCommandStore extends CommandStore {
  /** What retention removed from a command's output; undefined for an unknown command. */
  prunedInfo(id: string): PrunedInfo | undefined;
  /** True for a command this process holds as queued or running (recovery leaves those alone). */
  isLive(id: string): boolean;
}

/**
 * A {@link CommandStore} over the `commands` table. Like the memory store, `update` changes the
 * very object `insert` was given and returns it (the run manager keeps and reads that object), so
 * commands that are not finished stay in memory; writes go through the batching {@link WriteQueue}.
 */
export function createSqliteCommandStore(db: Database.Database, queue: WriteQueue): SqliteCommandStore {
  const selectById = db.prepare<[string], CommandRow>('SELECT * FROM commands WHERE id = ?');
  const selectMaxOrdinal = db.prepare<[], { ordinal: number | null }>('SELECT max(ordinal) AS ordinal FROM commands');
  /** Queued and running commands of this process: one object each, shared with the run manager. */
  const live = new Map<string, Command>();
  let next = (selectMaxOrdinal.get()?.ordinal ?? 0) + 1;

  const load = (id: string): Command | undefined => {
    const row = queue.isClosed ? undefined : selectById.get(id);
    return row && commandOf(row);
  };
  const current = (id: string): Command | undefined => live.get(id) ?? queue.pendingCommand(id) ?? load(id);

  /** One prepared statement per combination of filters, made when first needed. */
  const listStatements = new Map<string, Database.Statement<unknown[], CommandRow>>();
  const listStatement = (q: CommandQuery): Database.Statement<unknown[], CommandRow> => {
    const where: string[] = [];
    if (q.projectId !== undefined) where.push('project_id = @projectId');
    if (q.projectIds !== undefined) where.push('project_id IN (SELECT value FROM json_each(@projectIds))');
    if (q.status !== undefined) where.push('status = @status');
    if (q.kind !== undefined) where.push('kind = @kind');
    if (q.beforeOrdinal !== undefined) where.push('ordinal < @beforeOrdinal');
    const key = where.join(' AND ');
    let stmt = listStatements.get(key);
    if (!stmt) {
      stmt = db.prepare<unknown[], CommandRow>(`SELECT * FROM commands ${key ? `WHERE ${key}` : ''} ORDER BY ordinal DESC LIMIT @limit`);
      listStatements.set(key, stmt);
    }
    return stmt;
  };

  return {
    async insert(draft) {
      const ordinal = next++;
      const command: Command = { ...draft, id: commandIdOf(draft.projectId, ordinal), ordinal };
      const final = isFinal(command.status);
      if (!final) live.set(command.id, command);
      queue.putCommand(command, final);
      return command;
    },
    update(id, patch) {
      const command = current(id);
      if (!command) return Promise.reject(new Error(`no command ${id}`));
      const wasFinal = isFinal(command.status);
      Object.assign(command, patch);
      const final = isFinal(command.status);
      if (final) live.delete(id);
      else live.set(id, command);
      queue.putCommand(command, final && !wasFinal);
      return queue.written().then(() => command);
    },
    get: async (id) => current(id),
    async list(q) {
      if (queue.isClosed) return [];
      const pending = queue.pendingCommands();
      const params = {
        projectId: q.projectId,
        projectIds: q.projectIds === undefined ? undefined : JSON.stringify([...q.projectIds]),
        status: q.status,
        kind: q.kind,
        beforeOrdinal: q.beforeOrdinal,
        // Rows whose written state is stale can drop out below: ask for that many more.
        limit: Math.max(0, q.limit) + 1 + pending.length,
      };
      const bound = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
      const found = new Map<string, Command>();
      for (const row of listStatement(q).all(bound)) found.set(row.id, live.get(row.id) ?? queue.pendingCommand(row.id) ?? commandOf(row));
      for (const c of pending) found.set(c.id, c);
      return [...found.values()]
        .filter((c) => matchesQuery(c, q))
        .sort((a, b) => b.ordinal - a.ordinal)
        .slice(0, Math.max(0, q.limit) + 1);
    },
    prunedInfo(id) {
      if (queue.isClosed) return undefined;
      const row = selectById.get(id);
      if (!row) return queue.pendingCommand(id) ? { prunedAt: null, prunedEvents: 0, prunedBytes: 0 } : undefined;
      return { prunedAt: row.pruned_at === null ? null : new Date(row.pruned_at), prunedEvents: row.pruned_events, prunedBytes: row.pruned_bytes };
    },
    isLive: (id) => live.has(id),
  };
}
