import pg from 'pg';
import type { Logger } from '../../logger.js';
import { isUnreachable } from './errors.js';

/** Runs one statement; what {@link Db.query} and the argument of {@link Db.transaction}'s callback are. */
export type Query = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]) => Promise<pg.QueryResult<R>>;

/** Counters of the store's statements, for `/metrics`. */
export interface QueryStats {
  /** Statements run (transactions count each of their statements, BEGIN and COMMIT included). */
  queries: number;
  /** Statements that failed. */
  errors: number;
  /** Sum of the statements' latencies, in ms (with `queries`: the mean). */
  latencyMsSum: number;
}

/** The connection pool of the store, with timing and a health mark. */
export interface Db {
  readonly pool: pg.Pool;
  /** One statement on any pooled client. */
  query: Query;
  /** `fn` inside BEGIN … COMMIT on one client (ROLLBACK when it throws); the client is released always. */
  transaction<T>(fn: (query: Query) => Promise<T>): Promise<T>;
  /** False since a statement or connection found the database unreachable, until one succeeds. */
  healthy(): boolean;
  /** Tells the health mark what a connection outside the pool found (the LISTEN client). */
  observe(ok: boolean): void;
  stats(): QueryStats;
  /** Ends the pool (waits for checked-out clients to come back). */
  end(): Promise<void>;
}

/** bigint (int8) columns arrive as JS numbers: ordinals, seqs, epoch ms and byte counts all stay below 2^53. */
const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * The settings of every connection the store opens (pool and LISTEN client). A client stopped or
 * cut off mid-transaction must not hold row locks for long: the server ends a session idle in a
 * transaction after 5 s and a statement after 15 s; a client gives up connecting after 3 s and
 * waiting for an answer after 20 s; TCP keepalive notices a peer that vanished.
 */
export function connectionConfig(url: string, replicaId: string): pg.ClientConfig {
  return {
    connectionString: url,
    options: '-c idle_in_transaction_session_timeout=5000 -c statement_timeout=15000',
    connectionTimeoutMillis: 3000,
    query_timeout: 20_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: `rdev-api ${replicaId}`.slice(0, 63),
    types,
  };
}

/** Opens a pool on `config` (see {@link connectionConfig}); an idle client's error is logged, never thrown. */
export function createDb(config: pg.ClientConfig, logger?: Logger): Db {
  const pool = new pg.Pool({ ...config, max: 10, idleTimeoutMillis: 30_000 });
  const stats: QueryStats = { queries: 0, errors: 0, latencyMsSum: 0 };
  let ok = true;
  const observe = (good: boolean): void => {
    if (good !== ok) logger?.[good ? 'info' : 'warn'](good ? 'postgres: reachable again' : 'postgres: unreachable');
    ok = good;
  };
  pool.on('error', (err) => {
    // An idle client lost its connection (server restart, network): the pool drops it and connects anew when needed.
    logger?.warn('postgres: idle client error', { err: String(err) });
    observe(false);
  });

  const timed =
    (run: (text: string, values?: unknown[]) => Promise<pg.QueryResult>): Query =>
    async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
      const start = performance.now();
      try {
        const result = await run(text, values);
        observe(true);
        return result as pg.QueryResult<R>;
      } catch (err) {
        stats.errors++;
        observe(!isUnreachable(err));
        throw err;
      } finally {
        stats.queries++;
        stats.latencyMsSum += performance.now() - start;
      }
    };

  const connect = async (): Promise<pg.PoolClient> => {
    try {
      return await pool.connect();
    } catch (err) {
      stats.errors++;
      observe(false);
      throw err;
    }
  };

  return {
    pool,
    query: timed((text, values) => pool.query(text, values)),
    async transaction(fn) {
      const client = await connect();
      // Checked out, a client has no error listener of the pool's: an error between statements must not crash.
      let broken: unknown;
      const onError = (err: unknown): void => void (broken = err);
      client.on('error', onError);
      const query = timed((text, values) => client.query(text, values));
      try {
        await query('BEGIN');
        const result = await fn(query);
        await query('COMMIT');
        return result;
      } catch (err) {
        // A client whose connection failed is not given back; the server rolls its transaction back.
        if (broken === undefined && !isUnreachable(err)) {
          await query('ROLLBACK').catch((e: unknown) => void (broken = e));
        } else broken ??= err;
        throw err;
      } finally {
        client.off('error', onError);
        client.release(broken instanceof Error ? broken : broken === undefined ? undefined : true);
      }
    },
    healthy: () => ok,
    observe,
    stats: () => ({ ...stats }),
    end: () => pool.end(),
  };
}
