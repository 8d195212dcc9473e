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

/** Writes lines at or above `level` to `write` (stderr by default), with credentials redacted. */
export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stderr.write(l), base: Record<string, unknown> = {}): Logger {
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
