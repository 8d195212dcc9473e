import { TooManyCommandsError } from '../errors.js';
import { commandIdOf, type NewCommand } from '../runs/command-store.js';
import type { SchedulerLimits } from '../runs/scheduler.js';
import type { Command } from '../runs/types.js';
import { IDEMPOTENCY_WINDOW_MS } from '../store/idempotency.js';
import type { Query } from '../store/postgres/pool.js';
import { commandOf, commandValues, INSERT_COMMAND_SQL, type PgCommandRow } from '../store/postgres/rows.js';

/**
 * The cluster-wide admission and queue of replicas on PostgreSQL, as statements run inside one
 * transaction that holds {@link ADMISSION_LOCK}: every admission and every claim of the cluster
 * takes its turn, so counts read and rows written are one step (three replicas never admit three
 * times the limit). The rules are the local Scheduler's: a command behind others of its project
 * waits its turn; when slots free up the oldest waiting command (by ordinal) goes first.
 */

/** The transaction-scoped advisory lock admissions and claims take (any constant; this one spells "rdq"). */
export const ADMISSION_LOCK = 0x726471;

/** Who this replica is and how long its leases last. */
export interface Owner {
  replicaId: string;
  leaseSeconds: number;
}

/** What {@link admit} decided. */
export type Admission = { command: Command; reused: true } | { command: Command; reused: false; epoch: number | null; stdin: string | undefined };

/**
 * Records a new command: the earlier command when the caller used the key within the window, else
 * RUNNING and owned by `owner` (epoch 1) when there is room now, QUEUED (with its stdin, for
 * whichever replica claims it) otherwise; throws TOO_MANY_COMMANDS when the queue is full.
 */
export async function admit(
  query: Query,
  o: { draft: NewCommand; caller: string; key: string | undefined; stdin: string | undefined; limits: SchedulerLimits; owner: Owner },
): Promise<Admission> {
  await query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);
  const now = Date.now();
  if (o.key) {
    const { rows } = await query<PgCommandRow>(
      'SELECT c.* FROM idempotency i JOIN commands c ON c.id = i.command_id WHERE i.caller = $1 AND i.key = $2 AND i.at > $3',
      [o.caller, o.key, now - IDEMPOTENCY_WINDOW_MS],
    );
    if (rows[0]) return { command: commandOf(rows[0]), reused: true };
  }
  const { rows: counts } = await query<{ running: number; running_here: number; queued: number; queued_here: number }>(
    `SELECT count(*) FILTER (WHERE status = 'RUNNING')::int AS running,
            count(*) FILTER (WHERE status = 'RUNNING' AND project_id = $1)::int AS running_here,
            count(*) FILTER (WHERE status = 'QUEUED')::int AS queued,
            count(*) FILTER (WHERE status = 'QUEUED' AND project_id = $1)::int AS queued_here
     FROM commands WHERE status IN ('RUNNING', 'QUEUED')`,
    [o.draft.projectId],
  );
  const c = counts[0]!;
  const mustQueue = c.running >= o.limits.maxConcurrentTotal || c.running_here >= o.limits.maxConcurrentPerProject || c.queued_here > 0;
  if (mustQueue && c.queued >= o.limits.maxQueued) throw new TooManyCommandsError(o.limits.maxQueued);

  const { rows: seq } = await query<{ ordinal: number }>("SELECT nextval('command_ordinals') AS ordinal");
  const ordinal = seq[0]!.ordinal;
  const command: Command = {
    ...o.draft,
    id: commandIdOf(o.draft.projectId, ordinal),
    ordinal,
    ...(mustQueue ? {} : { status: 'RUNNING' as const, startedAt: new Date(now), spool: { pgid: null, stdout: 0, stderr: 0 } }),
  };
  await query(INSERT_COMMAND_SQL, commandValues(command));
  if (mustQueue) {
    await query('UPDATE commands SET stdin = $2, caller = $3 WHERE id = $1', [command.id, o.stdin ?? null, o.caller]);
  } else {
    await query(`UPDATE commands SET owner = $2, epoch = 1, lease_until = now() + $3 * interval '1 second', caller = $4 WHERE id = $1`, [
      command.id,
      o.owner.replicaId,
      o.owner.leaseSeconds,
      o.caller,
    ]);
  }
  if (o.key) {
    await query(
      `INSERT INTO idempotency (caller, key, command_id, at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (caller, key) DO UPDATE SET command_id = excluded.command_id, at = excluded.at`,
      [o.caller, o.key, command.id, now],
    );
  }
  return { command, reused: false, epoch: mustQueue ? null : 1, stdin: o.stdin };
}

/** A queued command this replica claimed: it is RUNNING and owned here now. */
export interface Claimed {
  command: Command;
  epoch: number;
  stdin: string | undefined;
  stopRequested: string | null;
}

/**
 * Claims for `owner` the queued commands that may run now, oldest first across projects, each
 * project in its order; returns them, RUNNING, owned and leased. A cancel does not take the
 * admission lock ({@link cancelQueued}): a command picked here but canceled before its row is locked
 * is left CANCELED (the lock's look at the row sees the cancel), not made RUNNING again.
 */
export async function claimQueued(query: Query, limits: SchedulerLimits, owner: Owner): Promise<Claimed[]> {
  await query('SELECT pg_advisory_xact_lock($1)', [ADMISSION_LOCK]);
  const { rows: running } = await query<{ project_id: string; n: number }>(
    "SELECT project_id, count(*)::int AS n FROM commands WHERE status = 'RUNNING' GROUP BY project_id",
  );
  const perProject = new Map(running.map((r) => [r.project_id, r.n]));
  let total = running.reduce((sum, r) => sum + r.n, 0);
  const { rows: waiting } = await query<{ id: string; project_id: string }>(
    "SELECT id, project_id FROM commands WHERE status = 'QUEUED' ORDER BY ordinal LIMIT 10000",
  );
  const blocked = new Set<string>();
  const picked: string[] = [];
  for (const w of waiting) {
    if (total >= limits.maxConcurrentTotal) break;
    if (blocked.has(w.project_id)) continue;
    const n = perProject.get(w.project_id) ?? 0;
    if (n >= limits.maxConcurrentPerProject) {
      blocked.add(w.project_id); // its later commands wait behind this one
      continue;
    }
    perProject.set(w.project_id, n + 1);
    total++;
    picked.push(w.id);
  }
  if (picked.length === 0) return [];
  const now = Date.now();
  const { rows } = await query<PgCommandRow & { queued_stdin: string | null }>(
    `UPDATE commands AS c SET status = 'RUNNING', started_at = $2, stdout_offset = 0, stderr_offset = 0, owner = $3, epoch = c.epoch + 1,
       lease_until = now() + $4 * interval '1 second', stdin = NULL
     FROM (SELECT id, stdin FROM commands WHERE id = ANY($1) AND status = 'QUEUED' FOR UPDATE) AS old
     WHERE c.id = old.id
     RETURNING c.*, old.stdin AS queued_stdin`,
    [picked, now, owner.replicaId, owner.leaseSeconds],
  );
  return rows
    .map((r) => ({ command: commandOf(r), epoch: r.epoch, stdin: r.queued_stdin ?? undefined, stopRequested: r.stop_requested }))
    .sort((a, b) => a.command.ordinal - b.command.ordinal);
}

/** Ends a QUEUED command as CANCELED before anyone claims it; false when it was not QUEUED any more. */
export async function cancelQueued(query: Query, id: string): Promise<boolean> {
  const { rowCount } = await query("UPDATE commands SET status = 'CANCELED', stdin = NULL WHERE id = $1 AND status = 'QUEUED'", [id]);
  return rowCount === 1;
}

/** Asks the owner of a RUNNING command to stop it (`reason`); false when it is not RUNNING. */
export async function requestStop(query: Query, id: string, reason: string): Promise<boolean> {
  const { rowCount } = await query("UPDATE commands SET stop_requested = $2 WHERE id = $1 AND status = 'RUNNING'", [id, reason]);
  return rowCount === 1;
}
