// A replica started while its PostgreSQL is not up yet (both started together by a deploy) waits
// for it, saying so, instead of exiting at once and being restarted by Kubernetes with a growing
// back-off; past RDEV_DATABASE_WAIT_SECONDS it gives up with one line; an answer that waiting would
// not change (a database that does not exist) ends it at once.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlData, until } from '../api/client.js';
import { compiledServer } from '../durability/compiled-server.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';

let postgres: PgCluster;
let root: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
  root = mkdtempSync(path.join(tmpdir(), 'rdev-database-wait-'));
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await postgres?.remove();
  rmSync(root, { recursive: true, force: true });
});

/** A server process on `databaseUrl` (local backend, its own data directory); its stderr collected. */
function startReplica(name: string, databaseUrl: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--enable-source-maps', compiledServer()], {
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      RDEV_LOG_LEVEL: 'info',
      RDEV_DATA_DIR: path.join(root, `data-${name}`),
      RDEV_DATABASE_URL: databaseUrl,
      RDEV_REPLICA_ID: name,
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let log = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (log += text));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = (): number | undefined => {
    const line = log.split('\n').find((l) => l.includes('"listening"'));
    return line ? (JSON.parse(line) as { port: number }).port : undefined;
  };
  return { child, log: () => log, exited, port };
}

describe('a replica started before its PostgreSQL answers', () => {
  it('waits, saying so, and serves once the database is up', async () => {
    await postgres.stop();
    const replica = startReplica('early', postgres.url(), { RDEV_DATABASE_WAIT_SECONDS: '120' });
    try {
      await until(
        () => {
          if (replica.child.exitCode !== null) throw new Error(`the replica exited ${replica.child.exitCode} instead of waiting:\n${replica.log()}`);
          return replica.log().includes('PostgreSQL does not answer yet');
        },
        60_000,
        'the replica to say it waits',
      );
      expect(replica.port()).toBeUndefined();
      expect(replica.child.exitCode).toBeNull();
      await postgres.start();
      await until(() => replica.port() !== undefined, 60_000, `the replica to listen:\n${replica.log()}`);
      const url = `http://127.0.0.1:${replica.port()}`;
      await until(async () => (await fetch(`${url}/ready`)).status === 200, 60_000, 'the replica to be ready');
      const { projects } = await gqlData(url, '{ projects { id } }');
      expect(projects.map((p: { id: string }) => p.id)).toContain('demo');
    } finally {
      replica.child.kill('SIGTERM');
      await replica.exited;
      await postgres.start();
    }
  });

  it('gives up past RDEV_DATABASE_WAIT_SECONDS with one line, exit 2', async () => {
    await postgres.stop();
    try {
      const replica = startReplica('late', postgres.url(), { RDEV_DATABASE_WAIT_SECONDS: '1' });
      expect(await replica.exited).toBe(2);
      expect(replica.log()).toContain('PostgreSQL does not answer yet');
      expect(replica.log()).toMatch(/rdev-api: cannot start: PostgreSQL \(RDEV_DATABASE_URL\) did not answer within 1 s \(RDEV_DATABASE_WAIT_SECONDS\): \S/);
    } finally {
      await postgres.start();
    }
  });

  it('does not wait on an answer that waiting would not change: a database that does not exist', async () => {
    const replica = startReplica('wrong', postgres.url('no_such_database'), { RDEV_DATABASE_WAIT_SECONDS: '3600' });
    expect(await replica.exited).toBe(2);
    expect(replica.log()).not.toContain('PostgreSQL does not answer yet');
    expect(replica.log()).toMatch(/rdev-api: cannot start: .*no_such_database.* does not exist/);
  });
});
