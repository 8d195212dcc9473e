import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { gqlData } from '../api/client.js';
import { compiledServer } from '../durability/compiled-server.js';
import { pollUntil, startServer, type ServerProcess } from '../durability/server-process.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api/index.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';

/**
 * Three (or `n`) real server processes as replicas on one throwaway PostgreSQL and one
 * Kubernetes API test server with the `demo` pod: what DESIGN.md "Replicas" runs, on one machine.
 */
export interface ReplicaSet {
  readonly postgres: PgCluster;
  readonly kube: KubeApiServer;
  readonly databaseUrl: string;
  /** The replicas by name (`a`, `b`, `c`, …); a killed one is replaced by {@link restart}. */
  readonly replicas: Map<string, ServerProcess>;
  url(name: string): string;
  /** Starts (again) the replica `name` with the set's environment and `env` over it. */
  restart(name: string, env?: Record<string, string>): Promise<ServerProcess>;
  /** A client on the database, for checks the API does not show (owners, epochs). */
  sql<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]>;
  close(): Promise<void>;
}

export async function startReplicaSet(o: { names?: string[]; env?: Record<string, string> } = {}): Promise<ReplicaSet> {
  const names = o.names ?? ['a', 'b', 'c'];
  const root = mkdtempSync(path.join(tmpdir(), 'rdev-replicas-'));
  const postgres = await startPostgres();
  const kube = await startKubeApiServer();
  const pod = kube.addPod({ name: 'claudebox-demo-0', namespace: 'rdev', labels: { 'rdev.io/project': 'demo' } });
  mkdirSync(pod.dir, { recursive: true });
  const databaseUrl = postgres.url();
  // A pool: the tests restart PostgreSQL, and a pool connects anew (an idle client's error is ignored).
  const client = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  client.on('error', () => {});
  const entry = compiledServer();
  const base = (name: string): Record<string, string> => ({
    RDEV_BACKEND: 'kube',
    KUBECONFIG: kube.kubeconfigPath,
    RDEV_WORKSPACE: kube.workspaceMounted ? '/workspace' : pod.dir,
    RDEV_SPOOL_DIR: path.join(root, 'spool'),
    RDEV_DATA_DIR: path.join(root, `data-${name}`),
    RDEV_DATABASE_URL: databaseUrl,
    RDEV_REPLICA_ID: name,
    RDEV_LEASE_SECONDS: '3',
    RDEV_SHUTDOWN_GRACE_SECONDS: '0',
    ...o.env,
  });
  const replicas = new Map<string, ServerProcess>();
  const start = async (name: string, env: Record<string, string> = {}): Promise<ServerProcess> => {
    const server = await startServer({ env: { ...base(name), ...env }, compiledEntry: entry });
    replicas.set(name, server);
    await pollUntil(
      `replica ${name} sees the demo project`,
      () => gqlData(server.url, '{ projects { id status } }'),
      (d) => d.projects.some((p: any) => p.id === 'demo' && p.status === 'READY'),
      30_000,
    );
    return server;
  };
  // One after the other: the first runs the migrations (the others would wait on its lock anyway).
  for (const name of names) await start(name);
  return {
    postgres,
    kube,
    databaseUrl,
    replicas,
    url: (name) => replicas.get(name)!.url,
    restart: start,
    sql: async (text, values) => (await client.query(text, values)).rows,
    async close() {
      for (const server of replicas.values()) {
        server.child.kill('SIGCONT');
        await server.kill();
      }
      await client.end().catch(() => {});
      await kube.close();
      await postgres.remove();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
