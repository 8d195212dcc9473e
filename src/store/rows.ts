import type { ClaudeSummary } from '../runs/claude-summary.js';
import type { Command, CommandEvent, CommandKind, CommandStatus, OutputStream } from '../runs/types.js';

/** Conversions between the domain shapes of `src/runs/types.ts` and rows of the schema in `schema.ts`. */

/** A `commands` row as better-sqlite3 returns it. */
export interface CommandRow {
  id: string;
  ordinal: number;
  project_id: string;
  kind: string;
  argv: string;
  workdir: string;
  timeout_seconds: number;
  status: string;
  exit_code: number | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  duration_ms: number | null;
  claude: string | null;
  pruned_at: number | null;
  pruned_events: number;
  pruned_bytes: number;
  pgid: number | null;
  /** NULL for a command that never went RUNNING under a supervisor. */
  stdout_offset: number | null;
  stderr_offset: number | null;
  /** NULL where no spool position is, or in a row written before it was kept. */
  output_logged: number | null;
}

/** An `events` row as better-sqlite3 returns it. */
export interface EventRow {
  seq: number;
  type: string;
  at: number;
  stream: string | null;
  text: string | null;
  message_type: string | null;
  subtype: string | null;
  tool_name: string | null;
  message: string | null;
  status: string | null;
  exit_code: number | null;
  duration_ms: number | null;
  error: string | null;
}

/** Named parameters of the commands upsert (`@id`, `@ordinal`, …). */
export type CommandParams = Omit<CommandRow, 'pruned_at' | 'pruned_events' | 'pruned_bytes'>;

const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());
const date = (n: number | null): Date | null => (n === null ? null : new Date(n));

export function commandParams(c: Command): CommandParams {
  return {
    id: c.id,
    ordinal: c.ordinal,
    project_id: c.projectId,
    kind: c.kind,
    argv: JSON.stringify(c.argv),
    workdir: c.workdir,
    timeout_seconds: c.timeoutSeconds,
    status: c.status,
    exit_code: c.exitCode,
    error: c.error,
    created_at: c.createdAt.getTime(),
    started_at: ms(c.startedAt),
    finished_at: ms(c.finishedAt),
    duration_ms: c.durationMs,
    claude: c.claude === null ? null : JSON.stringify(c.claude),
    pgid: c.spool?.pgid ?? null,
    stdout_offset: c.spool ? c.spool.stdout : null,
    stderr_offset: c.spool ? c.spool.stderr : null,
    output_logged: c.spool?.logged ?? null,
  };
}

export function commandOf(r: CommandRow): Command {
  return {
    id: r.id,
    ordinal: r.ordinal,
    projectId: r.project_id,
    kind: r.kind as CommandKind,
    argv: JSON.parse(r.argv) as string[],
    workdir: r.workdir,
    timeoutSeconds: r.timeout_seconds,
    status: r.status as CommandStatus,
    exitCode: r.exit_code,
    error: r.error,
    createdAt: new Date(r.created_at),
    startedAt: date(r.started_at),
    finishedAt: date(r.finished_at),
    durationMs: r.duration_ms,
    claude: r.claude === null ? null : (JSON.parse(r.claude) as ClaudeSummary),
    prunedAt: date(r.pruned_at),
    spool:
      r.stdout_offset === null
        ? null
        : { pgid: r.pgid, stdout: r.stdout_offset, stderr: r.stderr_offset ?? 0, ...(r.output_logged === null ? {} : { logged: r.output_logged }) },
  };
}

/** The insert of each event type, with positional parameters in the order {@link insertEvent} binds them. */
export const INSERT_EVENT_SQL = {
  output: "INSERT INTO events (command_id, seq, type, at, stream, text, bytes) VALUES (?, ?, 'output', ?, ?, ?, ?)",
  claude: "INSERT INTO events (command_id, seq, type, at, text, message_type, subtype, tool_name, message, bytes) VALUES (?, ?, 'claude', ?, ?, ?, ?, ?, ?, ?)",
  completed: "INSERT INTO events (command_id, seq, type, at, status, exit_code, duration_ms, error) VALUES (?, ?, 'completed', ?, ?, ?, ?, ?)",
} as const;

type Insert = { run(...params: unknown[]): unknown };

/** Writes one event with the statements prepared from {@link INSERT_EVENT_SQL}; returns the output bytes it counts for. */
export function insertEvent(inserts: Record<CommandEvent['type'], Insert>, commandId: string, e: CommandEvent): number {
  switch (e.type) {
    case 'output': {
      const bytes = Buffer.byteLength(e.text);
      inserts.output.run(commandId, e.seq, e.at.getTime(), e.stream, e.text, bytes);
      return bytes;
    }
    case 'claude': {
      // `undefined` (no message at all) stays NULL so that it reads back as undefined, not null.
      const message = e.message === undefined ? null : JSON.stringify(e.message);
      const bytes = Buffer.byteLength(e.text) + (message === null ? 0 : Buffer.byteLength(message));
      inserts.claude.run(commandId, e.seq, e.at.getTime(), e.text, e.messageType, e.subtype, e.toolName, message, bytes);
      return bytes;
    }
    case 'completed':
      inserts.completed.run(commandId, e.seq, e.at.getTime(), e.status, e.exitCode, e.durationMs, e.error);
      return 0;
  }
}

export function eventOf(r: EventRow): CommandEvent {
  const at = new Date(r.at);
  switch (r.type) {
    case 'output':
      return { type: 'output', seq: r.seq, stream: r.stream as OutputStream, text: r.text ?? '', at };
    case 'claude':
      return {
        type: 'claude',
        seq: r.seq,
        messageType: r.message_type ?? '',
        subtype: r.subtype,
        text: r.text ?? '',
        toolName: r.tool_name,
        message: r.message === null ? undefined : (JSON.parse(r.message) as unknown),
        at,
      };
    case 'completed':
      return { type: 'completed', seq: r.seq, status: r.status as CommandStatus, exitCode: r.exit_code, durationMs: r.duration_ms ?? 0, error: r.error, at };
    default:
      throw new Error(`unknown event type ${JSON.stringify(r.type)} at seq ${r.seq}`);
  }
}
