import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compiledServer } from '../test/durability/compiled-server.js';
import { startServer, type ServerProcess } from '../test/durability/server-process.js';
import { startBareYoga, type BareYoga } from './bare-yoga.js';
import { NS, POD, startKubeApiProcess, type KubeApiProcess } from './kube-api-process.js';

/**
 * What the rows of issue 14 ("As fast as the wire") measure against each other, all loopback:
 * the Kubernetes API test server in its own process (pod `claudebox-bench-0`, project `bench`);
 * the server under test, the compiled build as `npm start` runs it (`compiledServer()`), kube
 * backend on that API server, SQLite store, log level `info` (its default); the machine's
 * `kubectl` on the same API server; a bare graphql-yoga process (`bare-yoga.ts`). Started once
 * for all the rows that run; {@link Wire.close} ends every process.
 */

export const PROJECT = 'bench';

/** Limits raised so that the rows measure speed, not the guards (50 commands at once, 1,000 subscribers of one token, no mutation rate limit). */
const ENV = {
  RDEV_MAX_SUBSCRIPTIONS_PER_TOKEN: '5000',
  RDEV_MUTATIONS_PER_MINUTE: '0',
  RDEV_MAX_CONCURRENT_PER_PROJECT: '100',
  RDEV_MAX_CONCURRENT_TOTAL: '100',
};

export interface Wire {
  kube: KubeApiProcess;
  server: ServerProcess;
  bare: BareYoga;
  close(): Promise<void>;
}

export async function startWire(): Promise<Wire> {
  const entry = compiledServer();
  const dir = mkdtempSync(path.join(tmpdir(), 'rdev-bench-wire-'));
  let kube: KubeApiProcess | undefined;
  let server: ServerProcess | undefined;
  let bare: BareYoga | undefined;
  // BENCH_SERVER_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`): node options for the server under test; it then
  // gets SIGTERM at the end (and exits by itself, writing its profile) instead of SIGKILL.
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const close = async (): Promise<void> => {
    if (server && nodeArgs.length > 0 && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await Promise.race([server.exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
    await server?.kill();
    await bare?.stop();
    await kube?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    kube = await startKubeApiProcess();
    server = await startServer({
      compiledEntry: entry,
      nodeArgs,
      env: {
        RDEV_BACKEND: 'kube',
        KUBECONFIG: kube.kubeconfigPath,
        RDEV_WORKSPACE: kube.mounted ? '/workspace' : kube.podDir,
        RDEV_SPOOL_DIR: path.join(dir, 'spool'),
        RDEV_DATA_DIR: path.join(dir, 'data'),
        RDEV_SHUTDOWN_GRACE_SECONDS: '0',
        ...ENV,
      },
    });
    for (const deadline = Date.now() + 60_000; !(await projectReady(server.url)); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > deadline) throw new Error(`project ${PROJECT} not READY within 60 s:\n${server.log()}`);
    }
    bare = await startBareYoga();
  } catch (err) {
    await close();
    throw err;
  }
  return { kube, server, bare, close };
}

/** POSTs a GraphQL operation; throws on errors. */
export async function gql<T>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const { data, errors } = (await res.json()) as { data?: T; errors?: unknown };
  if (!data || errors) throw new Error(`${query.slice(0, 60)}: ${JSON.stringify(errors)}`);
  return data;
}

async function projectReady(url: string): Promise<boolean> {
  try {
    const { projects } = await gql<{ projects: Array<{ id: string; status: string }> }>(url, '{ projects { id status } }');
    return projects.some((p) => p.id === PROJECT && p.status === 'READY');
  } catch {
    return false;
  }
}

/** Starts `command` in the bench project; resolves with its id. */
export async function runShell(url: string, command: string): Promise<string> {
  const data = await gql<{ runShell: { id: string } }>(url, 'mutation($c: String!) { runShell(input: { projectId: "bench", command: $c }) { id } }', {
    c: command,
  });
  return data.runShell.id;
}

/** `kubectl exec -n rdev <pod> -- argv` with the API server's kubeconfig and a private cache dir. */
export function spawnKubectlExec(kube: KubeApiProcess, argv: string[]): ReturnType<typeof spawn> {
  return spawn('kubectl', ['exec', '-n', NS, POD, '--', ...argv], {
    env: { ...process.env, KUBECONFIG: kube.kubeconfigPath, KUBECACHEDIR: path.join(path.dirname(kube.kubeconfigPath), 'kubectl-cache') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs `kubectl exec … -- argv` to its end; resolves with the wall time and the stdout bytes it read. */
export async function kubectlExec(kube: KubeApiProcess, argv: string[]): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  const child = spawnKubectlExec(kube, argv);
  let bytes = 0;
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => (bytes += b.length));
  child.stderr!.on('data', (b: Buffer) => (stderr += String(b)));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  const ms = performance.now() - t;
  if (code !== 0) throw new Error(`kubectl exec ${argv.join(' ')} exited ${code}: ${stderr}`);
  return { ms, bytes };
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A whole number from the environment, at least 1. */
export function count(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}=${process.env[name]}: must be a whole number of at least 1`);
  return value;
}

/** `seq 1 N` writes this many bytes. */
export function seqBytes(lines: number): number {
  let bytes = 0;
  for (let digits = 1, low = 1; low <= lines; digits++, low *= 10) bytes += (Math.min(lines, low * 10 - 1) - low + 1) * (digits + 1);
  return bytes;
}

/** One printed row: what, the absolute figures, the ratio and the goal. */
export function row(id: string, what: string, figures: string, ratio: string, goal: string): void {
  console.log(`${id}  ${what}\n      ${figures}\n      ratio ${ratio}   goal ${goal}`);
}
