import type pg from 'pg';

/**
 * Migrations of the PostgreSQL schema: entry `i` takes a database from version `i` to `i + 1`.
 * Append, never edit: a database written by an older build is brought up to date step by step.
 * Times are epoch ms in bigint columns (as in SQLite), except where the database's own clock
 * decides (`lease_until`, `rate_buckets.at`, `audit.at`): those are timestamptz.
 */
const MIGRATIONS: readonly string[] = [
  `
  -- Ordinals come from here, so that two replicas never hand out the same one.
  CREATE SEQUENCE command_ordinals;

  -- One row per command: the run manager's Command (argv and claude as JSON text), then what the
  -- replicas coordinate with (written by the admission and lease code, never by the write queue).
  CREATE TABLE commands (
    id              text PRIMARY KEY,
    ordinal         bigint NOT NULL UNIQUE,
    project_id      text NOT NULL,
    kind            text NOT NULL,
    argv            text NOT NULL,
    workdir         text NOT NULL,
    timeout_seconds integer NOT NULL,
    status          text NOT NULL,
    exit_code       integer,
    error           text,
    created_at      bigint NOT NULL,
    started_at      bigint,
    finished_at     bigint,
    duration_ms     bigint,
    claude          text,
    -- Retention: when the command's output events were deleted, and how much they were.
    pruned_at       bigint,
    pruned_events   bigint NOT NULL DEFAULT 0,
    pruned_bytes    bigint NOT NULL DEFAULT 0,
    -- The supervisor's process group and how many bytes of each spool file the events cover.
    pgid            integer,
    stdout_offset   bigint,
    stderr_offset   bigint,
    -- Ownership: the replica that runs the command, the fencing epoch, and until when its lease holds.
    owner           text,
    epoch           bigint NOT NULL DEFAULT 0,
    lease_until     timestamptz,
    -- A stop asked for by any replica (the reason), carried out by the owner.
    stop_requested  text,
    stdin           text,
    caller          text
  );
  CREATE INDEX commands_by_project ON commands (project_id, ordinal);
  CREATE INDEX commands_by_status ON commands (status, ordinal);
  CREATE INDEX commands_by_lease ON commands (status, lease_until);

  -- Every command's events, seq 1, 2, 3, ... Columns not used by an event's type are NULL.
  CREATE TABLE events (
    command_id   text NOT NULL,
    seq          bigint NOT NULL,
    type         text NOT NULL,            -- output | claude | completed
    at           bigint NOT NULL,
    stream       text,                     -- output
    text         text,                     -- output, claude
    -- PostgreSQL's text cannot hold NUL: a text that has one is stored as a JSON string literal.
    text_json    boolean NOT NULL DEFAULT false,
    message_type text,                     -- claude
    subtype      text,                     -- claude
    tool_name    text,                     -- claude
    message      text,                     -- claude: the message as JSON
    status       text,                     -- completed
    exit_code    integer,                  -- completed
    duration_ms  bigint,                   -- completed
    error        text,                     -- completed
    bytes        bigint NOT NULL DEFAULT 0, -- UTF-8 size of text + message (what retention counts)
    PRIMARY KEY (command_id, seq)
  );

  -- Running totals of the output (output + claude events) each command holds, for retention.
  CREATE TABLE output_totals (
    command_id text PRIMARY KEY,
    events     bigint NOT NULL,
    bytes      bigint NOT NULL
  );

  -- Idempotency keys: the first command a caller started with a key.
  CREATE TABLE idempotency (
    caller     text NOT NULL,
    key        text NOT NULL,
    command_id text NOT NULL,
    at         bigint NOT NULL,
    PRIMARY KEY (caller, key)
  );
  CREATE INDEX idempotency_by_age ON idempotency (at);

  CREATE TABLE audit (
    seq   bigserial PRIMARY KEY,
    at    timestamptz NOT NULL DEFAULT now(),
    entry jsonb NOT NULL
  );

  -- Per-token rate limits shared by the replicas: a token bucket per caller.
  CREATE TABLE rate_buckets (
    caller text PRIMARY KEY,
    tokens double precision NOT NULL,
    at     timestamptz NOT NULL
  );
  `,
  `
  -- How many of the bytes the spool offsets cover the log kept (the output cap counts these).
  ALTER TABLE commands ADD COLUMN output_logged bigint;
  `,
];

/** The schema this code writes; `max(version)` of `schema_migrations` says which one a database holds. */
export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** The advisory lock that serializes migrations between replicas (any constant; this one spells "rdev"). */
const MIGRATION_LOCK = 0x72646576;

/**
 * Brings the database to {@link PG_SCHEMA_VERSION}, each migration in its own transaction with its
 * row in `schema_migrations`. Replicas starting at once take turns under an advisory lock held by
 * one dedicated client, so each migration runs once. Refuses a database newer than this code.
 */
export async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  let failed: Error | undefined;
  // A lost connection is reported by the failing statement; the client's own 'error' must not crash.
  const onError = (err: Error): void => void (failed = err);
  client.on('error', onError);
  try {
    await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ version: number }>('SELECT coalesce(max(version), 0) AS version FROM schema_migrations');
      const version = rows[0]!.version;
      if (version > PG_SCHEMA_VERSION) {
        throw new Error(`database schema version ${version} is newer than this build understands (${PG_SCHEMA_VERSION})`);
      }
      for (let v = version; v < PG_SCHEMA_VERSION; v++) {
        await client.query('BEGIN');
        try {
          await client.query(MIGRATIONS[v]!);
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v + 1]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw err;
        }
      }
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`).catch(() => {});
    }
  } catch (err) {
    failed ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off('error', onError);
    // A client that failed is closed rather than pooled: its session (and any lock it still holds) ends with it.
    client.release(failed);
  }
}
