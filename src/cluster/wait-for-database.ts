import pg from 'pg';
import type { Logger } from '../logger.js';
import { isUnreachable } from '../store/postgres/errors.js';

/**
 * Opens what `open` opens, trying again while PostgreSQL does not answer (a replica and its
 * database are often started together: the database may still be starting, or its address not
 * resolve yet) for up to `waitSeconds`, with a warning per try. An answer that waiting would not
 * change (a wrong password, a database that does not exist) fails at once, as does the last try.
 */
export async function waitForDatabase<T>(open: () => Promise<T>, o: { waitSeconds: number; logger: Logger }): Promise<T> {
  const deadline = Date.now() + o.waitSeconds * 1000;
  for (let delay = 250, tries = 1; ; delay = Math.min(delay * 2, 2000), tries++) {
    try {
      return await open();
    } catch (err) {
      if (!notAnswering(err)) throw err;
      const left = deadline - Date.now();
      if (left <= 0) {
        const waited = o.waitSeconds > 0 ? ` within ${o.waitSeconds} s (RDEV_DATABASE_WAIT_SECONDS)` : '';
        throw new Error(`PostgreSQL (RDEV_DATABASE_URL) did not answer${waited}: ${describe(err)}`, { cause: err });
      }
      const inMs = Math.min(delay, left);
      o.logger.warn('PostgreSQL does not answer yet; trying again', { err: describe(err), tries, inMs, secondsLeft: Math.ceil(left / 1000) });
      await new Promise((r) => setTimeout(r, inMs));
    }
  }
}

/** True when `err` says the database could not be reached (not that it answered no). */
function notAnswering(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) return isUnreachable(err);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  // Socket errors (ECONNREFUSED, ENOTFOUND, EAI_AGAIN, ETIMEDOUT, …), pg's own connect timeout and a connection cut while opening.
  return (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) || /Connection terminated|timeout/i.test(err instanceof Error ? err.message : '');
}

function describe(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return describe(err.errors[0]);
  return err instanceof Error ? err.message || String((err as NodeJS.ErrnoException).code ?? err.name) : String(err);
}
