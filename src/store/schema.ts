import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** The schema this code writes; `PRAGMA user_version` of a file says which one it holds. */
export const SCHEMA_VERSION = 3;

/**
 * Migrations, index `i` takes a file from version `i` to `i + 1`. Append, never edit: a file
 * written by an older build is brought up to date step by step when it is opened.
 */
const MIGRATIONS: readonly string[] = [
  `
  -- One row per command; the run manager's Command, with Dates as epoch ms and argv/claude as JSON.
  CREATE TABLE commands (
    id              TEXT PRIMARY KEY,
    ordinal         INTEGER NOT NULL,
    project_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    argv            TEXT NOT NULL,
    workdir         TEXT NOT NULL,
    timeout_seconds INTEGER NOT NULL,
    status          TEXT NOT NULL,
    exit_code       INTEGER,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    duration_ms     INTEGER,
    claude          TEXT,
    -- Retention: when the command's output events were deleted, and how much they were.
    pruned_at       INTEGER,
    pruned_events   INTEGER NOT NULL DEFAULT 0,
    pruned_bytes    INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX commands_by_ordinal ON commands (ordinal);
  CREATE INDEX commands_by_project ON commands (project_id, ordinal);
  CREATE INDEX commands_by_status ON commands (status, ordinal);

  -- Every command's events, seq 1, 2, 3, ... Columns not used by an event's type are NULL.
  CREATE TABLE events (
    command_id   TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    type         TEXT NOT NULL,            -- output | claude | completed
    at           INTEGER NOT NULL,
    stream       TEXT,                     -- output
    text         TEXT,                     -- output, claude
    message_type TEXT,                     -- claude
    subtype      TEXT,                     -- claude
    tool_name    TEXT,                     -- claude
    message      TEXT,                     -- claude: the message as JSON
    status       TEXT,                     -- completed
    exit_code    INTEGER,                  -- completed
    duration_ms  INTEGER,                  -- completed
    error        TEXT,                     -- completed
    bytes        INTEGER NOT NULL DEFAULT 0 -- UTF-8 size of text + message (what retention counts)
  );
  CREATE UNIQUE INDEX events_by_command ON events (command_id, seq);

  -- Running totals of the output (output + claude events) each command holds, for retention.
  CREATE TABLE output_totals (
    command_id TEXT PRIMARY KEY,
    events     INTEGER NOT NULL,
    bytes      INTEGER NOT NULL
  ) WITHOUT ROWID;

  -- Idempotency keys: the first command a caller started with a key.
  CREATE TABLE idempotency (
    caller     TEXT NOT NULL,
    key        TEXT NOT NULL,
    command_id TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (caller, key)
  ) WITHOUT ROWID;
  CREATE INDEX idempotency_by_age ON idempotency (at);
  `,
  `
  -- Commands run under a supervisor in the workspace: its process group, and how many bytes of
  -- each spool file the stored events cover (written in the same transaction as those events).
  ALTER TABLE commands ADD COLUMN pgid INTEGER;
  ALTER TABLE commands ADD COLUMN stdout_offset INTEGER;
  ALTER TABLE commands ADD COLUMN stderr_offset INTEGER;
  `,
  `
  -- How many of the bytes those offsets cover the log kept (the output cap counts these).
  ALTER TABLE commands ADD COLUMN output_logged INTEGER;
  `,
];

/**
 * Opens (creating it and its directory if need be) a store file: WAL journal with `synchronous = NORMAL` (a commit
 * survives a crash of the process; only an OS crash or power loss can take the last commits),
 * then brings the schema to {@link SCHEMA_VERSION}.
 * @see https://www.sqlite.org/wal.html
 */
export function openDatabase(file: string): Database.Database {
  mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    // Only takes effect on a new, empty file; lets retention hand freed pages back to the OS.
    db.pragma('auto_vacuum = INCREMENTAL');
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`${file}: could not switch to WAL (journal_mode is ${String(mode)})`);
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // Keeps the WAL file from staying as large as the largest batch once it has been checkpointed.
    db.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
    migrate(db, file);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Database.Database, file: string): void {
  const version = Number(db.pragma('user_version', { simple: true }));
  if (version > SCHEMA_VERSION) {
    throw new Error(`${file}: schema version ${version} is newer than this build understands (${SCHEMA_VERSION})`);
  }
  db.transaction(() => {
    for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
