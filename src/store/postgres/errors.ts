import pg from 'pg';

/**
 * A write refused because this process no longer holds the command: its row's `epoch` is not
 * the one this process holds (another replica took the command over). Nothing of it was written.
 */
export class FencedError extends Error {
  override readonly name = 'FencedError';

  constructor(readonly commandId: string) {
    super(`command ${commandId} is fenced: another replica holds it now (epoch changed)`);
  }
}

/** SQLSTATE classes and codes that mean the server could not be reached or is going away. */
const UNREACHABLE_CLASSES = ['08', '53'];
const UNREACHABLE_CODES = new Set(['57P01', '57P02', '57P03']);
/** Codes that the same statements may not get when they run again (lock conflicts, timeouts, shutdown). */
const RETRYABLE_CLASSES = ['40', '55', '57', '58', 'XX'];

/**
 * True when `err` says the database did not answer: a socket error, a connection timeout, or a
 * server that is shutting down or out of connections (anything that is not a server's answer).
 */
export function isUnreachable(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return true;
  const code = err.code ?? '';
  return UNREACHABLE_CLASSES.some((c) => code.startsWith(c)) || UNREACHABLE_CODES.has(code);
}

/**
 * True when running the same statements again may succeed: the database was away, a deadlock or
 * lock timeout, a canceled statement. False for errors in the data or the SQL (a retry would fail
 * the same way).
 */
export function isRetryable(err: unknown): boolean {
  if (isUnreachable(err)) return true;
  const code = (err as pg.DatabaseError).code ?? '';
  return RETRYABLE_CLASSES.some((c) => code.startsWith(c));
}
