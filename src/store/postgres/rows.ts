import type { Command, CommandEvent } from '../../runs/types.js';
import { commandParams, eventOf as sqliteEventOf, type CommandRow, type EventRow } from '../rows.js';

/**
 * Conversions between the domain shapes and rows of the schema in `migrations.ts`. The columns
 * are those of the SQLite schema (with bigints read back as numbers, see `pool.ts`), so the
 * conversions of `../rows.ts` serve both; what PostgreSQL adds is handled here: text cannot hold
 * NUL, and writes go as column arrays through `unnest` (a few statements per batch, not one per row).
 */

/** A `commands` row as the pool returns it: the Command columns, then what the replicas coordinate with. */
export interface PgCommandRow extends CommandRow {
  owner: string | null;
  epoch: number;
  lease_until: Date | null;
  stop_requested: string | null;
  stdin: string | null;
  caller: string | null;
}

/** An `events` row as the pool returns it. */
export interface PgEventRow extends EventRow {
  /** `text` is a JSON string literal (the text held NUL). */
  text_json: boolean;
}

export { commandOf } from '../rows.js';

/** The columns of `events` that `read` selects, in the order {@link PgEventRow} names them. */
export const EVENT_SELECT = 'seq, type, at, stream, text, text_json, message_type, subtype, tool_name, message, status, exit_code, duration_ms, error';

export function eventOf(r: PgEventRow): CommandEvent {
  return sqliteEventOf(r.text_json && r.text !== null ? { ...r, text: JSON.parse(r.text) as string } : r);
}

/** NUL is the one character PostgreSQL's text refuses; in names and messages it becomes U+FFFD. */
const noNul = (s: string | null): string | null => (s === null || !s.includes('\0') ? s : s.replaceAll('\0', '\uFFFD'));

/** The Command columns of `commands`, with their types, in the order {@link commandValues} gives them. */
export const COMMAND_COLUMNS = [
  ['id', 'text'],
  ['ordinal', 'bigint'],
  ['project_id', 'text'],
  ['kind', 'text'],
  ['argv', 'text'],
  ['workdir', 'text'],
  ['timeout_seconds', 'integer'],
  ['status', 'text'],
  ['exit_code', 'integer'],
  ['error', 'text'],
  ['created_at', 'bigint'],
  ['started_at', 'bigint'],
  ['finished_at', 'bigint'],
  ['duration_ms', 'bigint'],
  ['claude', 'text'],
  ['pgid', 'integer'],
  ['stdout_offset', 'bigint'],
  ['stderr_offset', 'bigint'],
  ['output_logged', 'bigint'],
] as const;

/** The values of {@link COMMAND_COLUMNS} for `c` (argv and claude as JSON, Dates as epoch ms). */
export function commandValues(c: Command): unknown[] {
  const p = commandParams(c);
  return COMMAND_COLUMNS.map(([name]) => (name === 'error' || name === 'workdir' ? noNul(p[name]) : p[name]));
}

/** INSERT of one command row, with positional parameters in {@link COMMAND_COLUMNS} order. */
export const INSERT_COMMAND_SQL = `INSERT INTO commands (${COMMAND_COLUMNS.map(([n]) => n).join(', ')})
  VALUES (${COMMAND_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`;

/**
 * UPDATE of many command rows from column arrays ({@link commandValues} transposed): the Command
 * fields only, so that owner, epoch, lease and stop requests (the coordination code's) stay as they are.
 */
export const UPDATE_COMMANDS_SQL = `UPDATE commands AS c SET ${COMMAND_COLUMNS.filter(([n]) => n !== 'id' && n !== 'ordinal')
  .map(([n]) => `${n} = u.${n}`)
  .join(', ')}
  FROM unnest(${COMMAND_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS u(${COMMAND_COLUMNS.map(([n]) => n).join(', ')})
  WHERE c.id = u.id`;

/** The columns of `events` a write fills, with their types, in the order {@link EventColumns.add} fills them. */
const EVENT_COLUMNS = [
  ['command_id', 'text'],
  ['seq', 'bigint'],
  ['type', 'text'],
  ['at', 'bigint'],
  ['stream', 'text'],
  ['text', 'text'],
  ['text_json', 'boolean'],
  ['message_type', 'text'],
  ['subtype', 'text'],
  ['tool_name', 'text'],
  ['message', 'text'],
  ['status', 'text'],
  ['exit_code', 'integer'],
  ['duration_ms', 'bigint'],
  ['error', 'text'],
  ['bytes', 'bigint'],
] as const;

/** INSERT of many events from the arrays of {@link EventColumns}. */
export const INSERT_EVENTS_SQL = `INSERT INTO events (${EVENT_COLUMNS.map(([n]) => n).join(', ')})
  SELECT * FROM unnest(${EVENT_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})`;

/** Events as column arrays (one array per column of `events`), the parameters of {@link INSERT_EVENTS_SQL}. */
export class EventColumns {
  readonly columns: unknown[][] = EVENT_COLUMNS.map(() => []);
  get size(): number {
    return this.columns[0]!.length;
  }

  /** Adds `e` of `commandId`; returns the output bytes it counts for (UTF-8 text, and a claude message's JSON). */
  add(commandId: string, e: CommandEvent): number {
    let row: unknown[];
    let bytes = 0;
    switch (e.type) {
      case 'output': {
        bytes = Buffer.byteLength(e.text);
        row = [commandId, e.seq, e.type, e.at.getTime(), e.stream, ...storedText(e.text), null, null, null, null, null, null, null, null, bytes];
        break;
      }
      case 'claude': {
        // `undefined` (no message at all) stays NULL so that it reads back as undefined, not null.
        const message = e.message === undefined ? null : JSON.stringify(e.message);
        bytes = Buffer.byteLength(e.text) + (message === null ? 0 : Buffer.byteLength(message));
        const cells = [e.messageType, e.subtype, e.toolName].map(noNul);
        row = [commandId, e.seq, e.type, e.at.getTime(), null, ...storedText(e.text), ...cells, message, null, null, null, null, bytes];
        break;
      }
      case 'completed':
        row = [commandId, e.seq, e.type, e.at.getTime(), null, null, false, null, null, null, null, e.status, e.exitCode, e.durationMs, noNul(e.error), 0];
        break;
    }
    for (let i = 0; i < row.length; i++) this.columns[i]!.push(row[i]);
    return bytes;
  }
}

/** `text` and `text_json` for an event's text: as it is, or as a JSON literal when it holds NUL. */
function storedText(text: string): [string, boolean] {
  return text.includes('\0') ? [JSON.stringify(text), true] : [text, false];
}
