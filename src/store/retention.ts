import type Database from 'better-sqlite3';
import { FINAL_STATUSES } from '../runs/types.js';
import { IDEMPOTENCY_WINDOW_MS } from './idempotency.js';
import type { WriteQueue } from './write-queue.js';

/** How much output history to keep. With neither limit, nothing is pruned. */
export interface PrunePolicy {
  /** Prune the output of commands that finished longer ago than this. */
  maxAgeMs?: number | undefined;
  /** Prune the output of the oldest finished commands until all output together is at most this many bytes. */
  maxOutputBytes?: number | undefined;
  /** True for a command that is still running or queued (its output is never pruned). */
  isRunning(id: string): boolean;
  /**
   * Epoch ms the age is measured from.
   * @default Date.now()
   */
  now?: number | undefined;
}

/** What one prune removed. */
export interface PruneReport {
  /** Commands whose output was deleted. */
  commands: number;
  /** Events deleted. */
  events: number;
  /** Output bytes deleted (UTF-8 text of output and claude events, and claude messages' JSON). */
  bytes: number;
}

interface Candidate {
  id: string;
  finished_at: number;
  events: number;
  bytes: number;
}

const FINAL = JSON.stringify([...FINAL_STATUSES]);

/**
 * Deletes the output and claude events of finished commands, oldest finished first, until what
 * is left is within `policy`. The command record stays, marked with `pruned_at` and what was
 * removed, and so does its `completed` event (so a follower of the command still ends).
 * Expired idempotency keys go too, and freed pages are handed back to the file system.
 */
export function prune(db: Database.Database, queue: WriteQueue, policy: PrunePolicy): PruneReport {
  queue.flush();
  const now = policy.now ?? Date.now();
  const report: PruneReport = { commands: 0, events: 0, bytes: 0 };
  if (policy.maxAgeMs === undefined && policy.maxOutputBytes === undefined) return report;

  const candidates = db
    .prepare<[string], Candidate>(
      `SELECT c.id, c.finished_at, t.events, t.bytes FROM commands c JOIN output_totals t ON t.command_id = c.id
       WHERE c.status IN (SELECT value FROM json_each(?)) AND c.finished_at IS NOT NULL AND t.events > 0
       ORDER BY c.finished_at, c.ordinal`,
    )
    .all(FINAL);
  let total = db.prepare<[], { bytes: number | null }>('SELECT sum(bytes) AS bytes FROM output_totals').get()?.bytes ?? 0;

  const deleteEvents = db.prepare<[string]>("DELETE FROM events WHERE command_id = ? AND type <> 'completed'");
  const clearTotals = db.prepare<[string]>('UPDATE output_totals SET events = 0, bytes = 0 WHERE command_id = ?');
  const mark = db.prepare<[number, number, number, string]>(
    'UPDATE commands SET pruned_at = ?, pruned_events = pruned_events + ?, pruned_bytes = pruned_bytes + ? WHERE id = ?',
  );
  // One transaction per command: a prune of a long history does not hold one huge write open.
  const pruneOne = db.transaction((c: Candidate) => {
    const events = deleteEvents.run(c.id).changes;
    clearTotals.run(c.id);
    mark.run(now, events, c.bytes, c.id);
    report.commands++;
    report.events += events;
    report.bytes += c.bytes;
    total -= c.bytes;
  });

  for (const c of candidates) {
    if (policy.isRunning(c.id)) continue;
    const tooOld = policy.maxAgeMs !== undefined && now - c.finished_at > policy.maxAgeMs;
    const tooMuch = policy.maxOutputBytes !== undefined && total > policy.maxOutputBytes;
    // Candidates are oldest first and the total only shrinks: once one may stay, so may the rest.
    if (!tooOld && !tooMuch) break;
    pruneOne(c);
  }
  db.prepare<[number]>('DELETE FROM idempotency WHERE at <= ?').run(now - IDEMPOTENCY_WINDOW_MS);
  if (report.commands > 0) db.pragma('incremental_vacuum');
  return report;
}
