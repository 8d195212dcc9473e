import { randomBytes } from 'node:crypto';
import type { Command, CommandKind, CommandStatus } from './types.js';

/** Which commands a listing wants, newest first. */
export interface CommandQuery {
  projectId?: string | undefined;
  /** Only commands of these projects (a token limited to some projects sees only theirs). */
  projectIds?: ReadonlySet<string> | undefined;
  status?: CommandStatus | undefined;
  kind?: CommandKind | undefined;
  /** Only commands older than this ordinal (the cursor of the previous page). */
  beforeOrdinal?: number | undefined;
  limit: number;
}

/** A command before the store gave it its ordinal and id. */
export type NewCommand = Omit<Command, 'id' | 'ordinal'>;

/**
 * Where command records live: in memory, SQLite or PostgreSQL. Every call is asynchronous (a
 * network database answers later); SQLite's and memory's resolve at once.
 *
 * Records of commands this process runs are live objects: {@link update} applies its patch to
 * the object {@link insert} returned before it returns (so a holder of that object sees the change
 * at once), and its promise settles when the change is durable.
 */
export interface CommandStore {
  /** Records a new command: the store gives it the next ordinal (from a sequence where several processes share it) and its id. */
  insert(draft: NewCommand): Promise<Command>;
  /** Applies `patch` (at once, to the live record) and resolves with the record once the change is durable. */
  update(id: string, patch: Partial<Command>): Promise<Command>;
  get(id: string): Promise<Command | undefined>;
  /** Up to `limit + 1` matches, newest first, so the caller can tell whether there is a next page. */
  list(query: CommandQuery): Promise<Command[]>;
}

/** The id of the command with `ordinal` in `projectId`: readable, ordered within a project, and not guessable. */
export function commandIdOf(projectId: string, ordinal: number): string {
  return `cmd-${projectId}-${ordinal.toString(36).padStart(4, '0')}${randomBytes(3).toString('hex')}`;
}

/** Whether `c` is one `q` asks for (the limit aside). */
export function matchesQuery(c: Command, q: CommandQuery): boolean {
  return (
    (q.projectId === undefined || c.projectId === q.projectId) &&
    (q.projectIds === undefined || q.projectIds.has(c.projectId)) &&
    (q.status === undefined || c.status === q.status) &&
    (q.kind === undefined || c.kind === q.kind) &&
    (q.beforeOrdinal === undefined || c.ordinal < q.beforeOrdinal)
  );
}

/** A {@link CommandStore} in memory. */
export function createMemoryCommandStore(): CommandStore {
  const byId = new Map<string, Command>();
  const ordered: Command[] = [];
  return {
    async insert(draft) {
      const ordinal = ordered.length + 1;
      const command: Command = { ...draft, id: commandIdOf(draft.projectId, ordinal), ordinal };
      byId.set(command.id, command);
      ordered.push(command);
      return command;
    },
    update(id, patch) {
      const current = byId.get(id);
      if (!current) return Promise.reject(new Error(`no command ${id}`));
      Object.assign(current, patch);
      return Promise.resolve(current);
    },
    get: async (id) => byId.get(id),
    async list(q) {
      const out: Command[] = [];
      const start = Math.min(ordered.length, (q.beforeOrdinal ?? ordered.length + 1) - 1);
      for (let i = start - 1; i >= 0 && out.length <= q.limit; i--) {
        const c = ordered[i]!;
        if (matchesQuery(c, q)) out.push(c);
      }
      return out;
    },
  };
}

/** The project of a command, read off its id (see {@link commandIdOf}): `cmd-<project>-<ordinal><random>`. */
export function projectIdOfCommand(commandId: string): string {
  return commandId.slice('cmd-'.length, commandId.lastIndexOf('-'));
}
