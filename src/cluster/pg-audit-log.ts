import { acceptedEntry, refusedEntry, type AuditEntry, type AuditLog } from '../audit/audit-log.js';
import type { Logger } from '../logger.js';
import type { Db } from '../store/postgres/pool.js';

/** An audit entry as the `audit` table's `entry` holds it (dates as ISO strings). */
type StoredEntry = Omit<AuditEntry, 'seq' | 'at' | 'finishedAt'> & { finishedAt: string | null };

/**
 * The audit log of replicas: one row per command accepted or refused in `audit` (the `auditLog`
 * query reads every replica's), the final state written into the accepted row when the command
 * ends. Writes never block a request: they go out in order, one after another, and a write the
 * database refuses is retried (backoff up to 5 s) while it is away; the JSON line of each entry
 * also goes to the replica's log, so nothing is silent while it waits.
 */
export function createPgAuditLog(db: Db, logger: Logger): AuditLog {
  let tail: Promise<void> = Promise.resolve();
  const write = (what: string, text: string, values: unknown[]): void => {
    tail = tail.then(async () => {
      for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
        try {
          await db.query(text, values);
          return;
        } catch (err) {
          logger.warn('audit: write failed, will retry', { what, err: String(err), inMs: delay });
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    });
  };
  const add = (entry: StoredEntry): void => {
    logger.info('audit', { event: entry.decision === 'ACCEPTED' ? 'accepted' : 'refused', ...entry });
    write('entry', 'INSERT INTO audit (entry) VALUES ($1)', [JSON.stringify(entry)]);
  };
  return {
    accepted(e) {
      add(acceptedEntry(e));
    },
    refused(e) {
      add(refusedEntry(e));
    },
    finished(e) {
      const patch = { status: e.status, exitCode: e.exitCode, outputBytes: e.outputBytes, outputSha256: e.outputSha256, finishedAt: new Date().toISOString() };
      logger.info('audit', { event: 'finished', commandId: e.commandId, ...patch });
      write('finished', "UPDATE audit SET entry = entry || $2::jsonb WHERE entry->>'commandId' = $1 AND entry->>'decision' = 'ACCEPTED'", [
        e.commandId,
        JSON.stringify(patch),
      ]);
    },
    async list({ before, limit }) {
      const { rows } = await db.query<{ seq: number; at: Date; entry: StoredEntry }>(
        'SELECT seq, at, entry FROM audit WHERE ($1::bigint IS NULL OR seq < $1) ORDER BY seq DESC LIMIT $2',
        [before ?? null, limit],
      );
      return rows.map((r) => ({ ...r.entry, seq: r.seq, at: r.at, finishedAt: r.entry.finishedAt === null ? null : new Date(r.entry.finishedAt) }));
    },
  };
}
