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

/** Where command records live; an in-memory one here, a persistent one can implement the same. */
export interface CommandStore {
  /** The next ordinal to give a new command. */
  nextOrdinal(): number;
  insert(command: Command): void;
  /** Applies `patch` and returns the updated record. */
  update(id: string, patch: Partial<Command>): Command;
  get(id: string): Command | undefined;
  /** Up to `limit + 1` matches, newest first, so the caller can tell whether there is a next page. */
  list(query: CommandQuery): Command[];
}

/** A {@link CommandStore} in memory. */
export function createMemoryCommandStore(): CommandStore {
  const byId = new Map<string, Command>();
  const ordered: Command[] = [];
  return {
    nextOrdinal: () => ordered.length + 1,
    insert(command) {
      byId.set(command.id, command);
      ordered.push(command);
    },
    update(id, patch) {
      const current = byId.get(id);
      if (!current) throw new Error(`no command ${id}`);
      Object.assign(current, patch);
      return current;
    },
    get: (id) => byId.get(id),
    list({ projectId, projectIds, status, kind, beforeOrdinal, limit }) {
      const out: Command[] = [];
      const start = Math.min(ordered.length, (beforeOrdinal ?? ordered.length + 1) - 1);
      for (let i = start - 1; i >= 0 && out.length <= limit; i--) {
        const c = ordered[i]!;
        const wanted =
          (projectId === undefined || c.projectId === projectId) &&
          (projectIds === undefined || projectIds.has(c.projectId)) &&
          (status === undefined || c.status === status) &&
          (kind === undefined || c.kind === kind);
        if (wanted) out.push(c);
      }
      return out;
    },
  };
}
