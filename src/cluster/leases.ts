import type { Query } from '../store/postgres/pool.js';
import { commandOf, type PgCommandRow } from '../store/postgres/rows.js';
import type { Owner } from './admission.js';
import type { Claimed } from './admission.js';

/**
 * Leases of RUNNING commands: the replica in `owner` runs the command while `lease_until` (the
 * database's clock, so replicas' clocks do not matter) is ahead; `epoch` grows at every change of
 * owner, and the write queue checks it under a row lock in the same transaction as every write
 * (the fence), so a replica that lost a lease can append nothing more.
 */

/**
 * Extends the leases `owner` holds on `held` (command id → epoch); returns the commands whose
 * lease is still this replica's, with the stop asked for each (null: none). A held command missing
 * from the answer was taken over (or ended). The stop requests are here so that one whose
 * notification was missed (sent before the run was launched here, or while LISTEN reconnected)
 * is carried out on the next beat.
 */
export async function renewLeases(query: Query, owner: Owner, held: ReadonlyMap<string, number>): Promise<Map<string, string | null>> {
  if (held.size === 0) return new Map();
  const { rows } = await query<{ id: string; stop_requested: string | null }>(
    `UPDATE commands AS c SET lease_until = now() + $2 * interval '1 second'
     FROM unnest($3::text[], $4::bigint[]) AS h(id, epoch)
     WHERE c.id = h.id AND c.epoch = h.epoch AND c.owner = $1 AND c.status = 'RUNNING'
     RETURNING c.id, c.stop_requested`,
    [owner.replicaId, owner.leaseSeconds, [...held.keys()], [...held.values()]],
  );
  return new Map(rows.map((r) => [r.id, r.stop_requested]));
}

/**
 * Takes over RUNNING commands whose lease ran out (their replica died or lost the database), and
 * those recorded as `owner`'s that it does not hold (it restarted under the same name): a new
 * epoch each, leased to `owner`. Rows another replica is taking over at the same moment are skipped.
 */
export async function takeOver(query: Query, owner: Owner, held: Iterable<string>, limit = 50): Promise<Claimed[]> {
  const { rows } = await query<PgCommandRow>(
    `UPDATE commands AS c SET owner = $1, epoch = c.epoch + 1, lease_until = now() + $2 * interval '1 second'
     WHERE c.id IN (
       SELECT id FROM commands
       WHERE status = 'RUNNING' AND (lease_until IS NULL OR lease_until < now() OR owner = $1) AND NOT (id = ANY($3::text[]))
       ORDER BY ordinal LIMIT $4 FOR UPDATE SKIP LOCKED)
     RETURNING c.*`,
    [owner.replicaId, owner.leaseSeconds, [...held], limit],
  );
  return rows
    .map((r) => ({ command: commandOf(r), epoch: r.epoch, stdin: undefined, stopRequested: r.stop_requested }))
    .sort((a, b) => a.command.ordinal - b.command.ordinal);
}

/** Lets go of leases at once (a replica detaching at shutdown), so another replica takes the commands over without waiting for them to run out. */
export async function releaseLeases(query: Query, owner: Owner, held: ReadonlyMap<string, number>): Promise<void> {
  if (held.size === 0) return;
  await query(
    `UPDATE commands AS c SET lease_until = now() - interval '1 second'
     FROM unnest($2::text[], $3::bigint[]) AS h(id, epoch)
     WHERE c.id = h.id AND c.epoch = h.epoch AND c.owner = $1`,
    [owner.replicaId, [...held.keys()], [...held.values()]],
  );
}
