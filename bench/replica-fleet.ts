import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compiledServer } from '../test/durability/compiled-server.js';
import { startPostgres, type PgCluster } from '../test/support/postgres.js';
import { startKubeApiProcess, type KubeApiProcess } from './kube-api-process.js';

/**
 * Replicas for benchmarks: server processes of the compiled build (`compiledServer()`, as the
 * image runs it) on databases of one throwaway PostgreSQL cluster, with the kube backend on the
 * Kubernetes API test server in a process of its own (pod `claudebox-bench-0`, project `bench`),
 * as `test/replicas/replica-set.ts` sets them up. The servers log at `warn`, so no `listening`
 * line tells their port: each gets a free loopback port and is ready once `/ready` answers 200
 * and it lists the project READY. {@link Fleet.close} ends every process and removes the cluster
 * and the temp directories; call it in a `finally`.
 */

/** The project (and pod label) the replicas serve. */
export const PROJECT = 'bench';
/** Warn and error lines kept from each replica's log. */
const KEEP_LOG_LINES = 50;

/** A replica process. */
export interface Replica {
  /** `<deployment>-<name>`, also its RDEV_REPLICA_ID. */
  readonly id: string;
  readonly url: string;
  readonly pid: number;
  /** How many warn and error lines it logged, and the first {@link KEEP_LOG_LINES} of them. */
  readonly warnings: { count: number; lines: string[] };
}

/** Servers on one database, started one after the other (the first runs the migrations). */
export interface Deployment {
  readonly name: string;
  readonly replicas: Replica[];
}

export interface Fleet {
  readonly postgres: PgCluster;
  /** Starts `names.length` replicas on a fresh database `<name>` with `env` over the defaults. */
  deploy(name: string, names: string[], env: Record<string, string>): Promise<Deployment>;
  /** SIGKILLs every replica, stops the API server process, removes the cluster and the temp dirs. Safe to call more than once. */
  close(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function ready(url: string): Promise<boolean> {
  try {
    if ((await fetch(`${url}/ready`)).status !== 200) return false;
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ projects { id status } }' }),
    });
    const { data } = (await res.json()) as { data?: { projects: Array<{ id: string; status: string }> } };
    return data?.projects.some((p) => p.id === PROJECT && p.status === 'READY') ?? false;
  } catch {
    return false; // not listening yet
  }
}

export async function startFleet(): Promise<Fleet> {
  const entry = compiledServer(); // first: a build that fails leaves nothing to clean up
  const root = mkdtempSync(path.join(tmpdir(), 'rdev-bench-replicas-'));
  const children: ChildProcess[] = [];
  let kube: KubeApiProcess | undefined;
  let postgres: PgCluster | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await Promise.all(
      children.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        return exited;
      }),
    );
    await kube?.stop();
    await postgres?.remove();
    rmSync(root, { recursive: true, force: true });
  };
  try {
    postgres = await startPostgres({ database: 'bench_unused' });
    kube = await startKubeApiProcess();
  } catch (err) {
    await close();
    throw err;
  }
  const { kubeconfigPath, mounted, podDir } = kube;
  const cluster = postgres;

  const startReplica = async (id: string, env: Record<string, string>): Promise<Replica> => {
    const port = await freePort();
    const child = spawn(process.execPath, [entry], {
      env: { ...process.env, ...env, PORT: String(port), RDEV_REPLICA_ID: id },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    const warnings = { count: 0, lines: [] as string[] };
    let pending = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      pending += text;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        warnings.count++; // at warn level, every line is a warning or an error (or a crash's stack)
        if (warnings.lines.length < KEEP_LOG_LINES) warnings.lines.push(line);
      }
    });
    const url = `http://127.0.0.1:${port}`;
    for (const deadline = Date.now() + 60_000; !(await ready(url)); await new Promise((r) => setTimeout(r, 50))) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`replica ${id} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${warnings.lines.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`replica ${id} was not ready within 60 s:\n${warnings.lines.join('\n')}`);
    }
    return { id, url, pid: child.pid!, warnings };
  };

  return {
    postgres: cluster,
    async deploy(name, names, env) {
      const databaseUrl = await cluster.createDatabase(name);
      const replicas: Replica[] = [];
      for (const replica of names) {
        replicas.push(
          await startReplica(`${name}-${replica}`, {
            RDEV_BACKEND: 'kube',
            KUBECONFIG: kubeconfigPath,
            RDEV_WORKSPACE: mounted ? '/workspace' : podDir,
            RDEV_SPOOL_DIR: path.join(root, `spool-${name}`),
            RDEV_DATA_DIR: path.join(root, `data-${name}-${replica}`),
            RDEV_DATABASE_URL: databaseUrl,
            RDEV_SHUTDOWN_GRACE_SECONDS: '0',
            RDEV_LOG_LEVEL: 'warn',
            ...env,
          }),
        );
      }
      return { name, replicas };
    },
    close,
  };
}
