/**
 * A throwaway PostgreSQL cluster for tests: `initdb` into a fresh temp directory, one `postgres`
 * on 127.0.0.1 and a free port, trust auth, no durability (fsync off). Nothing is mocked: the
 * tests talk to a real server through `pg`.
 *
 * Callers own what they start: call `remove()` in `afterAll`, which also runs when a test fails.
 * A process exit hook kills a cluster that was never removed, but it cannot run if the test
 * process is killed outright.
 *
 * ```ts
 * let pg: PgCluster;
 * beforeAll(async () => { pg = await startPostgres(); });
 * afterAll(() => pg.remove());
 * const url = await pg.createDatabase('store_1'); // postgres://postgres@127.0.0.1:<port>/store_1
 * await pg.restart();                              // same port, same data
 * ```
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, escapeIdentifier } from 'pg';

/** A running (or stopped) throwaway PostgreSQL cluster. */
export interface PgCluster {
  /** The TCP port on 127.0.0.1; it stays the same across `stop()`/`start()`. */
  readonly port: number;
  /** The temp directory holding the data directory, the socket and `postgres.log`. */
  readonly dir: string;
  /** The postmaster's pid while it runs, else undefined. */
  readonly pid: number | undefined;
  /**
   * A connection URL for a database as the superuser `postgres` (trust auth, no password).
   * @default database `rdev_test`, created by `startPostgres`
   */
  url(database?: string): string;
  /** `CREATE DATABASE`; resolves to its URL. The name must be a plain identifier. */
  createDatabase(name: string): Promise<string>;
  /** Fast shutdown (clients are disconnected); resolves once the postmaster has exited. No-op when stopped. */
  stop(): Promise<void>;
  /** Starts the same data directory on the same port; resolves once it accepts connections. No-op when running. */
  start(): Promise<void>;
  /** `stop()` then `start()`. */
  restart(): Promise<void>;
  /** Stops the cluster and deletes its directory. Safe to call more than once. */
  remove(): Promise<void>;
}

/** Options of {@link startPostgres}. */
export interface StartPostgresOptions {
  /**
   * Database created once the cluster is up.
   * @default 'rdev_test'
   */
  database?: string;
  /**
   * How long `start()` waits for the server to accept connections.
   * @default 30_000
   */
  startTimeoutMs?: number;
}

const run = promisify(execFile);
const SUPERUSER = 'postgres';
/** Server settings for a test cluster: nothing here has to survive a machine crash. */
const SETTINGS = {
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  max_connections: '200',
};

/** Creates, starts and returns a fresh cluster with one database (see {@link StartPostgresOptions}). */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgCluster> {
  const database = options.database ?? 'rdev_test';
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const bin = findBinDir();
  const owner = await runAs();
  const dir = mkdtempSync(join(tmpdir(), 'rdev-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  let child: ChildProcess | undefined;
  let removed = false;

  // Safety net for a cluster nobody removed: SIGQUIT is PostgreSQL's immediate shutdown, which
  // also ends the backends. An exit handler must be synchronous, so the directory stays.
  const onExit = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGQUIT');
  };

  try {
    if (owner) chownSync(dir, owner.uid, owner.gid);
    await run(join(bin, 'initdb'), ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], {
      ...spawnIdentity(owner, dir),
      maxBuffer: 4 << 20,
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed in ${dir}: ${String((err as { stderr?: string }).stderr ?? err)}`);
  }
  const port = await freePort();
  process.on('exit', onExit);

  const url = (db = database) => `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;

  const start = async () => {
    if (removed) throw new Error('this PostgreSQL cluster was removed');
    if (child) return;
    const args = ['-D', dataDir, '-p', String(port), '-c', `unix_socket_directories=${dir}`];
    for (const [name, value] of Object.entries(SETTINGS)) args.push('-c', `${name}=${value}`);
    const log = openSync(logFile, 'a');
    try {
      child = spawn(join(bin, 'postgres'), args, { ...spawnIdentity(owner, dir), stdio: ['ignore', log, log] });
    } finally {
      closeSync(log); // the child has its own copy
    }
    const proc = child;
    proc.once('exit', () => {
      if (child === proc) child = undefined;
    });
    try {
      await waitUntilAccepting(proc, url('postgres'), startTimeoutMs);
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}\n--- ${logFile} (tail) ---\n${tail(logFile)}`);
    }
  };

  const stop = async () => {
    const proc = child;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
    proc.kill('SIGINT'); // fast shutdown: roll back open transactions, disconnect clients, checkpoint
    // A fast shutdown takes well under a second here; escalate rather than hang a test run.
    const escalate = setTimeout(() => proc.kill('SIGQUIT'), 20_000);
    try {
      await exited;
    } finally {
      clearTimeout(escalate);
    }
    if (child === proc) child = undefined;
  };

  const cluster: PgCluster = {
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      await withClient(url('postgres'), (c) => c.query(`CREATE DATABASE ${escapeIdentifier(name)}`));
      return url(name);
    },
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async remove() {
      await stop();
      removed = true;
      process.off('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await start();
    await cluster.createDatabase(database);
  } catch (err) {
    await cluster.remove();
    throw err;
  }
  return cluster;
}

/** The newest /usr/lib/postgresql/<version>/bin holding initdb (Debian's layout), else PATH's. */
function findBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a) || b.localeCompare(a))
    : [];
  if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  throw new Error("PostgreSQL not found: no initdb under /usr/lib/postgresql/*/bin or on PATH (.ci/run installs Debian's postgresql)");
}

interface Owner {
  uid: number;
  gid: number;
}

/**
 * The identity the server runs as: undefined (ourselves) unless we are root, which initdb and
 * postgres refuse; then the `postgres` system user that Debian's package creates.
 */
async function runAs(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', SUPERUSER]), run('id', ['-g', SUPERUSER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new Error(`running as root, and there is no '${SUPERUSER}' user to run PostgreSQL as (.ci/run creates one)`);
  }
}

/**
 * Spawn options that drop to `owner`. Node's own uid/gid (setgroups, setgid, setuid before exec)
 * rather than `runuser`: runuser stays as the parent and turns the SIGINT of a fast shutdown into
 * SIGTERM and later SIGKILL, while this way the signals reach the postmaster itself.
 */
function spawnIdentity(owner: Owner | undefined, cwd: string): { uid?: number; gid?: number; cwd: string } {
  return owner ? { uid: owner.uid, gid: owner.gid, cwd } : { cwd };
}

/** A port that was free a moment ago on 127.0.0.1 (listen on 0, read it, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls a connection until the server accepts it; fails at once if the postmaster exits. */
async function waitUntilAccepting(proc: ChildProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`postgres exited during start (code ${proc.exitCode}, signal ${proc.signalCode})`);
    try {
      await withClient(url, (c) => c.query('SELECT 1'), 1_000);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections within ${timeoutMs} ms: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function withClient<T>(url: string, fn: (c: Client) => Promise<T>, connectTimeoutMs = 5_000): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: connectTimeoutMs });
  // A server going away under an idle client emits 'error'; the query's rejection carries it.
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function tail(file: string, bytes = 4_000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '(no log)';
  }
}
