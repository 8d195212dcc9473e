/** A structured logger: one JSON object per line on stderr. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

/**
 * Credentials as they appear in HTTP: `Authorization: Bearer …` and `?access_token=…`. Nothing
 * logs them on purpose (the request log drops query strings, no header is logged); this is the
 * net under that, for an error message that quotes a URL or a header.
 */
const CREDENTIALS = /\b(bearer\s+|access_token=)[^\s"&\\]+/gi;

let toStderr: ((line: string) => void) | undefined;

/**
 * Writes lines to stderr together, once per turn of the event loop: a write to a pipe is a system
 * call of its own, made synchronously (Node on Linux), and the request log has a line per request.
 * What is pending is written at exit, also when the process exits on an uncaught error.
 */
function stderrLines(): (line: string) => void {
  if (toStderr) return toStderr;
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    process.stderr.write(text);
  };
  process.on('exit', flush);
  return (toStderr = (line) => {
    if (pending === '') setImmediate(flush);
    pending += line;
  });
}

/** Writes lines at or above `level` to `write` (stderr by default), with credentials redacted. */
export function createLogger(level: LogLevel, write: (line: string) => void = stderrLines(), base: Record<string, unknown> = {}): Logger {
  const at = (lvl: Exclude<LogLevel, 'silent'>) => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[lvl] < LEVELS[level]) return;
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...base, ...fields }).replace(CREDENTIALS, '$1[redacted]') + '\n');
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => createLogger(level, write, { ...base, ...fields }),
  };
}
