import type { PruneReport } from '../store/retention.js';
import { IDEMPOTENCY_WINDOW_MS } from '../store/idempotency.js';
import type { Db } from '../store/postgres/pool.js';

/** The transaction-scoped advisory lock a prune step takes: one replica prunes at a time (any constant; "rdr"). */
const RETENTION_LOCK = 0x726472;

/**
 * Retention of replicas on PostgreSQL, as `store/retention.ts` does it for SQLite: deletes the
 * output and claude events of finished commands, oldest finished first, until what is left is
 * within the policy; the record stays, marked with `pruned_at` and what was removed, and so does
 * its `completed` event. One transaction per command; while another replica prunes (its lock is
 * taken), this one stops and leaves the rest to it. A command's totals are claimed under its row
 * lock, so two pruners never count one command twice.
 */
export async function prunePg(db: Db, policy: { maxAgeMs?: number | undefined; maxOutputBytes?: number | undefined; now?: number }): Promise<PruneReport> {
  const now = policy.now ?? Date.now();
  const report: PruneReport = { commands: 0, events: 0, bytes: 0 };
  if (policy.maxAgeMs === undefined && policy.maxOutputBytes === undefined) return report;
  const { rows: candidates } = await db.query<{ id: string; finished_at: number; bytes: number }>(
    `SELECT c.id, c.finished_at, t.bytes FROM commands c JOIN output_totals t ON t.command_id = c.id
     WHERE c.status IN ('SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT', 'LOST') AND c.finished_at IS NOT NULL AND t.events > 0
     ORDER BY c.finished_at, c.ordinal`,
  );
  const { rows: sum } = await db.query<{ bytes: number | null }>('SELECT sum(bytes)::bigint AS bytes FROM output_totals');
  let total = sum[0]?.bytes ?? 0;
  for (const c of candidates) {
    const tooOld = policy.maxAgeMs !== undefined && now - c.finished_at > policy.maxAgeMs;
    const tooMuch = policy.maxOutputBytes !== undefined && total > policy.maxOutputBytes;
    // Oldest first and the total only shrinks: once one may stay, so may the rest.
    if (!tooOld && !tooMuch) break;
    const step = await db.transaction(async (query) => {
      const { rows: locked } = await query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [RETENTION_LOCK]);
      if (!locked[0]!.ok) return 'busy' as const;
      const { rowCount: claimed } = await query('UPDATE output_totals SET events = 0, bytes = 0 WHERE command_id = $1 AND events > 0', [c.id]);
      if (claimed !== 1) return 'gone' as const;
      const { rowCount } = await query("DELETE FROM events WHERE command_id = $1 AND type <> 'completed'", [c.id]);
      const events = rowCount ?? 0;
      await query('UPDATE commands SET pruned_at = $2, pruned_events = pruned_events + $3, pruned_bytes = pruned_bytes + $4 WHERE id = $1', [
        c.id,
        now,
        events,
        c.bytes,
      ]);
      return { events };
    });
    if (step === 'busy') break;
    total -= c.bytes;
    if (step === 'gone') continue;
    report.commands++;
    report.events += step.events;
    report.bytes += c.bytes;
  }
  await db.query('DELETE FROM idempotency WHERE at <= $1', [now - IDEMPOTENCY_WINDOW_MS]);
  return report;
}
