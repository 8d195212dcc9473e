// The throwaway PostgreSQL of test/support/postgres.ts: a real server that a test can query,
// stop, start again with its data, and remove without leaving a process or a directory behind.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PgCluster } from '../support/postgres.js';

let pg: PgCluster;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(() => pg?.remove());

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.query(sql)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The pids whose parent is `pid` (the postmaster's backends), from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

// One cluster, one life: each step builds on the one before.
describe.sequential('test/support/postgres', () => {
  let url: string;

  it('starts a server on 127.0.0.1 with the default database', async () => {
    expect(pg.url()).toBe(`postgres://postgres@127.0.0.1:${pg.port}/rdev_test`);
    expect(await query(pg.url(), 'SELECT current_database() AS db, current_user AS who')).toEqual([{ db: 'rdev_test', who: 'postgres' }]);
    expect(await query(pg.url(), "SELECT current_setting('fsync') AS fsync, current_setting('max_connections') AS max")).toEqual([
      { fsync: 'off', max: '200' },
    ]);
  });

  it('creates a database that takes writes', async () => {
    url = await pg.createDatabase('cluster_check');
    expect(url).toBe(pg.url('cluster_check'));
    await query(url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    await query(url, "INSERT INTO t VALUES (1, 'kept')");
    expect(await query(url, 'SELECT v FROM t')).toEqual([{ v: 'kept' }]);
  });

  it('refuses connections once stopped', async () => {
    await pg.stop();
    expect(pg.pid).toBeUndefined();
    await expect(query(url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('starts again on the same port with the data kept, and restarts', async () => {
    await pg.start();
    expect(await query(url, 'SELECT v FROM t')).toEqual([{ v: 'kept' }]);
    const before = pg.pid;
    await pg.restart();
    expect(pg.pid).not.toBe(before);
    expect(await query(url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 1 }]);
  });

  it('removes everything: no postmaster, no backend, no directory', async () => {
    const postmaster = pg.pid!;
    const backends = childrenOf(postmaster);
    expect(backends.length).toBeGreaterThan(0); // checkpointer, walwriter, ...
    await pg.remove();
    expect([postmaster, ...backends].filter(isAlive)).toEqual([]);
    expect(existsSync(pg.dir)).toBe(false);
    await expect(query(url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await pg.remove(); // again: a no-op
    await expect(pg.start()).rejects.toThrow(/removed/);
  });
});
