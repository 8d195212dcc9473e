import type { CommandEvent } from '../../runs/types.js';
import type { StoreFence } from './fence.js';
import type { Db, Query } from './pool.js';
import { COMMAND_COLUMNS, EventColumns, INSERT_EVENTS_SQL, UPDATE_COMMANDS_SQL } from './rows.js';

/** Who waits for a row write. */
export interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** One queued write: events of one append, a command row as it was at one update, or a barrier (resolved when everything queued before it is written). */
export type Item =
  | { kind: 'events'; commandId: string; events: CommandEvent[]; bytes: number }
  | { kind: 'row'; commandId: string; values: unknown[]; statusChanged: boolean; waiter: Waiter }
  | { kind: 'barrier'; commandId: ''; waiter: Waiter };

/** What a committed batch did. */
export interface Written {
  /** Held commands whose row had another epoch: nothing of theirs was written. */
  fenced: ReadonlySet<string>;
  /** The events written, per command in seq order. */
  committed: Map<string, CommandEvent[]>;
  /** Row writes that were made, and those the fence dropped. */
  resolved: Waiter[];
  rejected: Array<Waiter & { commandId: string }>;
  events: number;
  commands: number;
}

const TOTALS_SQL = `INSERT INTO output_totals (command_id, events, bytes) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[])
  ON CONFLICT (command_id) DO UPDATE SET events = output_totals.events + excluded.events, bytes = output_totals.bytes + excluded.bytes`;

/** One notification per command: `{ replica, commandId, projectId, first, seq }` (the first and last seq the batch wrote). */
const NOTIFY_EVENTS_SQL = `SELECT pg_notify($1,
    json_build_object('replica', $2::text, 'commandId', u.id, 'projectId', c.project_id, 'first', u.first, 'seq', u.seq)::text)
  FROM unnest($3::text[], $4::bigint[], $5::bigint[]) AS u(id, first, seq) LEFT JOIN commands c ON c.id = u.id`;

/** `{ replica, commandId, projectId, status }` for rows whose status the batch changed. */
const NOTIFY_STATUS_SQL = `SELECT pg_notify($1, json_build_object('replica', $2::text, 'commandId', id, 'projectId', project_id, 'status', status)::text)
  FROM commands WHERE id = ANY($3::text[])`;

/**
 * Writes `batch` in one transaction: first, under `SELECT … FOR UPDATE`, the epoch of every
 * command the fence holds is compared with its row's; a command whose epoch differs (or whose row
 * is gone) is fenced and none of its writes is made. Then the events (one multi-row INSERT), the
 * output totals, the command rows (the last state queued per command; one UPDATE of the Command
 * columns), and `pg_notify` of the events and status changes, delivered at COMMIT.
 */
export async function writeBatch(
  db: Db,
  batch: readonly Item[],
  o: {
    fence: StoreFence;
    replicaId: string;
    eventsChannel: string;
    statusChannel: string;
    /** An earlier attempt lost its connection: its COMMIT may have gone through even so. */
    retrying: boolean;
  },
): Promise<Written> {
  const empty: Written = { fenced: new Set(), committed: new Map(), resolved: [], rejected: [], events: 0, commands: 0 };
  if (batch.every((item) => item.kind === 'barrier')) return { ...empty, resolved: batch.map((item) => item.waiter) };
  const ids = [...new Set(batch.filter((item) => item.kind !== 'barrier').map((item) => item.commandId))];
  const expected = new Map<string, number>();
  for (const id of ids) {
    const epoch = o.fence.epoch(id);
    if (epoch !== undefined) expected.set(id, epoch);
  }
  return db.transaction(async (query) => {
    if (o.retrying && (await committedBefore(query, batch))) return { ...empty, ...collect(batch) };
    const fenced = await checkEpochs(query, expected, o.fence);
    const written: Written = { ...empty, fenced, committed: new Map(), resolved: [], rejected: [] };
    const events = new EventColumns();
    const totals = new Map<string, { events: number; bytes: number }>();
    const rows = new Map<string, unknown[]>();
    const statusChanged = new Set<string>();
    for (const item of batch) {
      if (item.kind === 'barrier') {
        written.resolved.push(item.waiter);
        continue;
      }
      if (fenced.has(item.commandId)) {
        if (item.kind === 'row') written.rejected.push({ ...item.waiter, commandId: item.commandId });
        continue;
      }
      if (item.kind === 'row') {
        rows.set(item.commandId, item.values);
        if (item.statusChanged) statusChanged.add(item.commandId);
        written.resolved.push(item.waiter);
        continue;
      }
      let total = totals.get(item.commandId);
      if (!total) totals.set(item.commandId, (total = { events: 0, bytes: 0 }));
      let committed = written.committed.get(item.commandId);
      if (!committed) written.committed.set(item.commandId, (committed = []));
      for (const e of item.events) {
        total.bytes += events.add(item.commandId, e);
        if (e.type !== 'completed') total.events++;
        committed.push(e);
      }
    }
    written.events = events.size;
    written.commands = rows.size;
    if (events.size > 0) {
      await query(INSERT_EVENTS_SQL, events.columns);
      const counted = [...totals].filter(([, t]) => t.events > 0);
      if (counted.length > 0) await query(TOTALS_SQL, [counted.map(([id]) => id), counted.map(([, t]) => t.events), counted.map(([, t]) => t.bytes)]);
    }
    if (rows.size > 0) {
      const values = [...rows.values()];
      await query(
        UPDATE_COMMANDS_SQL,
        COMMAND_COLUMNS.map((_, i) => values.map((v) => v[i])),
      );
    }
    if (written.committed.size > 0) {
      const seqs = [...written.committed].map(([id, list]) => [id, list[0]!.seq, list.at(-1)!.seq] as const);
      await query(NOTIFY_EVENTS_SQL, [o.eventsChannel, o.replicaId, seqs.map((s) => s[0]), seqs.map((s) => s[1]), seqs.map((s) => s[2])]);
    }
    if (statusChanged.size > 0) await query(NOTIFY_STATUS_SQL, [o.statusChannel, o.replicaId, [...statusChanged]]);
    return written;
  });
}

/** Locks the rows of the held commands (in id order, so that two writers cannot deadlock on them) and returns those whose epoch moved on. */
async function checkEpochs(query: Query, expected: ReadonlyMap<string, number>, fence: StoreFence): Promise<Set<string>> {
  const fenced = new Set<string>();
  if (expected.size === 0) return fenced;
  const { rows } = await query<{ id: string; epoch: number }>('SELECT id, epoch FROM commands WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [
    [...expected.keys()],
  ]);
  const found = new Map(rows.map((r) => [r.id, r.epoch]));
  // The epoch held now, if the coordination code took the command again meanwhile; else the one the batch started with.
  for (const [id, epoch] of expected) if (found.get(id) !== (fence.epoch(id) ?? epoch)) fenced.add(id);
  return fenced;
}

/**
 * Whether the batch was committed by an attempt whose answer was lost (the connection broke
 * during COMMIT): a batch commits whole or not at all, so its first event tells.
 */
async function committedBefore(query: Query, batch: readonly Item[]): Promise<boolean> {
  const first = batch.find((item) => item.kind === 'events');
  if (!first) return false; // rows only: writing them again changes nothing
  const { rows } = await query('SELECT 1 FROM events WHERE command_id = $1 AND seq = $2', [first.commandId, first.events[0]!.seq]);
  return rows.length > 0;
}

/** What a batch committed, when nothing of it was fenced. */
function collect(batch: readonly Item[]): Pick<Written, 'committed' | 'resolved' | 'events' | 'commands'> {
  const committed = new Map<string, CommandEvent[]>();
  const resolved: Waiter[] = [];
  const rows = new Set<string>();
  let events = 0;
  for (const item of batch) {
    if (item.kind !== 'events') {
      resolved.push(item.waiter);
      if (item.kind === 'row') rows.add(item.commandId);
      continue;
    }
    let list = committed.get(item.commandId);
    if (!list) committed.set(item.commandId, (list = []));
    list.push(...item.events);
    events += item.events.length;
  }
  return { committed, resolved, events, commands: rows.size };
}
