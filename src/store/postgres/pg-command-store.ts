import { commandIdOf, matchesQuery, type CommandQuery, type CommandStore, type NewCommand } from '../../runs/command-store.js';
import { isFinal, type Command } from '../../runs/types.js';
import { FencedError } from './errors.js';
import type { StoreFence } from './fence.js';
import type { Db } from './pool.js';
import type { PgWriteQueue } from './pg-write-queue.js';
import { commandOf, commandValues, INSERT_COMMAND_SQL, type PgCommandRow } from './rows.js';

/** A {@link CommandStore} in PostgreSQL, with what the coordination code (admission, leases) needs. */
export interface PgCommandStore extends CommandStore {
  /**
   * Makes `command` (a Command the coordination code built from its own SQL, e.g. with
   * `commandOf`, when it took the command) the live record of this process: `get`, `list` and
   * `update` use this very object from now on, until it is final.
   */
  adoptLive(command: Command): void;
  /** Stops holding `id` as live (another replica runs it now): `get` reads the row again. */
  dropLive(id: string): void;
  /** True while this process holds `id` as live (queued or running here). */
  isLive(id: string): boolean;
}

/** A command held in memory: live (not final), or with row writes not committed yet. */
interface Held {
  command: Command;
  writes: number;
  /**
   * What readers see while the command's final state is written: the record as it was before.
   * The end of a command becomes visible once it is durable (as its `completed` event does), so
   * that nobody sees a command end and then finds the database saying otherwise.
   */
  shown?: Command | undefined;
}

/** What readers see of a held command (see {@link Held.shown}). */
const visible = (entry: Held): Command => entry.shown ?? entry.command;

/**
 * Commands over the `commands` table. `insert` takes the next ordinal of the `command_ordinals`
 * sequence (so replicas never share one) and writes the row at once; `update` applies its patch to
 * the held object before it returns and queues the row in the write queue that also carries the
 * events, so that a row's spool offsets commit with the events they cover. The row is taken as it
 * is at the update, after the command's appends made before it (see `appending`).
 */
export function createPgCommandStore(o: {
  db: Db;
  queue: PgWriteQueue;
  fence: StoreFence;
  /** The appends of a command still waiting for its last seq (their events are queued before a row update that follows them). */
  appending: (commandId: string) => Promise<unknown> | undefined;
}): PgCommandStore {
  const { db, queue } = o;
  const held = new Map<string, Held>();
  /** Loads of commands an update found in no memory; later updates wait on the same load, in call order. */
  const loading = new Map<string, Promise<Held | undefined>>();

  const select = async (id: string): Promise<Command | undefined> => {
    const { rows } = await db.query<PgCommandRow>('SELECT * FROM commands WHERE id = $1', [id]);
    return rows[0] && commandOf(rows[0]);
  };

  const hold = (command: Command): Held => {
    let entry = held.get(command.id);
    if (entry?.command !== command) held.set(command.id, (entry = { command, writes: 0 }));
    return entry;
  };
  const release = (entry: Held): void => {
    if (entry.writes === 0 && isFinal(entry.command.status) && held.get(entry.command.id) === entry) held.delete(entry.command.id);
  };

  const apply = (entry: Held, patch: Partial<Command>): Promise<Command> => {
    const { command } = entry;
    const before = command.status;
    const snapshot = isFinal(before) ? undefined : { ...command };
    Object.assign(command, patch);
    const statusChanged = command.status !== before;
    const final = isFinal(command.status) && statusChanged;
    if (final) entry.shown = snapshot;
    const values = commandValues(command);
    entry.writes++;
    const pending = o.appending(command.id);
    const written = pending
      ? pending.catch(() => {}).then(() => queue.putRow(command.id, values, { statusChanged, final }))
      : queue.putRow(command.id, values, { statusChanged, final });
    return written.then(
      () => {
        entry.writes--;
        if (final) entry.shown = undefined;
        release(entry);
        return command;
      },
      (err: unknown) => {
        entry.writes--;
        if (final) entry.shown = undefined;
        release(entry);
        throw err;
      },
    );
  };

  const load = (id: string): Promise<Held | undefined> => {
    let p = loading.get(id);
    if (!p) {
      p = select(id).then(
        (command) => {
          loading.delete(id);
          return command && (held.get(id) ?? hold(command));
        },
        (err: unknown) => {
          loading.delete(id);
          throw err;
        },
      );
      loading.set(id, p);
    }
    return p;
  };

  return {
    async insert(draft: NewCommand) {
      const { rows } = await db.query<{ ordinal: number }>("SELECT nextval('command_ordinals') AS ordinal");
      const ordinal = rows[0]!.ordinal;
      const command: Command = { ...draft, id: commandIdOf(draft.projectId, ordinal), ordinal };
      await db.query(INSERT_COMMAND_SQL, commandValues(command));
      if (!isFinal(command.status)) hold(command);
      return command;
    },
    update(id, patch) {
      if (o.fence.isFenced(id)) return Promise.reject(new FencedError(id));
      const entry = held.get(id);
      if (entry && !loading.has(id)) return apply(entry, patch);
      return load(id).then((loaded) => {
        if (!loaded) throw new Error(`no command ${id}`);
        return apply(loaded, patch);
      });
    },
    async get(id) {
      const entry = held.get(id);
      return entry ? visible(entry) : await select(id);
    },
    async list(q: CommandQuery) {
      const where: string[] = [];
      const values: unknown[] = [];
      const param = (v: unknown): string => `$${values.push(v)}`;
      if (q.projectId !== undefined) where.push(`project_id = ${param(q.projectId)}`);
      if (q.projectIds !== undefined) where.push(`project_id = ANY(${param([...q.projectIds])}::text[])`);
      if (q.status !== undefined) where.push(`status = ${param(q.status)}`);
      if (q.kind !== undefined) where.push(`kind = ${param(q.kind)}`);
      if (q.beforeOrdinal !== undefined) where.push(`ordinal < ${param(q.beforeOrdinal)}`);
      const limit = Math.max(0, q.limit) + 1;
      // Rows whose held state no longer matches drop out below: ask for that many more.
      const sql = `SELECT * FROM commands ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ordinal DESC LIMIT ${param(limit + held.size)}`;
      const { rows } = await db.query<PgCommandRow>(sql, values);
      const found = new Map<string, Command>();
      for (const row of rows) {
        const entry = held.get(row.id);
        found.set(row.id, entry ? visible(entry) : commandOf(row));
      }
      for (const entry of held.values()) found.set(entry.command.id, visible(entry));
      return [...found.values()]
        .filter((c) => matchesQuery(c, q))
        .sort((a, b) => b.ordinal - a.ordinal)
        .slice(0, limit);
    },
    adoptLive(command) {
      if (!isFinal(command.status)) hold(command);
    },
    dropLive: (id) => void held.delete(id),
    isLive: (id) => {
      const entry = held.get(id);
      return entry !== undefined && !isFinal(entry.command.status);
    },
  };
}
