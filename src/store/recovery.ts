import type Database from 'better-sqlite3';
import type { EventLog } from '../runs/event-log.js';
import type { SqliteCommandStore } from './sqlite-command-store.js';
import type { WriteQueue } from './write-queue.js';

/** What {@link recover} found. */
export interface RecoveryReport {
  /** Ids of the commands that were queued or running when the last process stopped, now LOST. */
  lost: string[];
}

/** The `error` of a command that a restart cut off. */
export const RESTART_ERROR = 'server restarted';

/**
 * Ends the commands a previous process left QUEUED or RUNNING: nothing runs them any more. Each
 * becomes LOST with {@link RESTART_ERROR}, and gets a `completed` event so that its followers end.
 * Call it once after opening, before anything starts commands; commands this process started
 * are left alone in any case.
 */
export function recover(db: Database.Database, commands: SqliteCommandStore, log: EventLog, queue: WriteQueue, now: number): RecoveryReport {
  queue.flush();
  const unfinished = db
    .prepare<[], { id: string }>("SELECT id FROM commands WHERE status IN ('QUEUED', 'RUNNING') ORDER BY ordinal")
    .all()
    .filter((r) => !commands.isLive(r.id));
  const finishedAt = new Date(now);
  for (const { id } of unfinished) {
    const before = commands.get(id)!;
    const durationMs = before.startedAt ? Math.max(0, now - before.startedAt.getTime()) : null;
    commands.update(id, { status: 'LOST', exitCode: null, error: RESTART_ERROR, finishedAt, durationMs });
    // A log that already ended (it cannot, the two are written together, but a file is a file) keeps its one completion.
    const last = log.read(id, log.lastSeq(id) - 1, 1)[0];
    if (last?.type !== 'completed') {
      log.append(id, [{ type: 'completed', status: 'LOST', exitCode: null, durationMs: durationMs ?? 0, error: RESTART_ERROR, at: finishedAt }]);
    }
  }
  queue.flush();
  return { lost: unfinished.map((r) => r.id) };
}
