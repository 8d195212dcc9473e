/**
 * The Kubernetes API test server in a process of its own, for benchmarks: only the client's CPU
 * and memory are then counted in the bench process. Run as a script it starts the server with one
 * pod, prints where its kubeconfig is, and stays until its stdin closes.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Namespace and pod the server holds. */
export const NS = 'rdev';
export const POD = 'claudebox-bench-0';

const self = fileURLToPath(import.meta.url);

/** A running API server process. */
export interface KubeApiProcess {
  /** The API server process (it relays every exec byte between the server and the pod's processes). */
  pid: number;
  kubeconfigPath: string;
  /** Whether the pod's workspace is a private `/workspace` mount (else commands run in `/`). */
  mounted: boolean;
  /** The host directory the pod's commands see as `/workspace` (their cwd when not mounted). */
  podDir: string;
  /** Ends the process and waits for it. */
  stop(): Promise<void>;
}

/** Starts the API server process; resolves once it said where its kubeconfig is. */
export async function startKubeApiProcess(): Promise<KubeApiProcess> {
  const p = spawn(process.execPath, ['--import', 'tsx', self], { stdio: ['pipe', 'pipe', 'inherit'] });
  const closed = new Promise((r) => p.on('close', r));
  const stop = async (): Promise<void> => {
    p.stdin.end();
    await closed;
  };
  const { value, done } = await createInterface({ input: p.stdout })[Symbol.asyncIterator]().next();
  if (done) {
    await stop();
    throw new Error('the API server process printed nothing');
  }
  return { pid: p.pid!, ...(JSON.parse(value as string) as { kubeconfigPath: string; mounted: boolean; podDir: string }), stop };
}

async function serve(): Promise<void> {
  const { startKubeApiServer } = await import('../test/support/kube-api/index.js');
  const server = await startKubeApiServer();
  const pod = server.addPod({ name: POD, namespace: NS, labels: { 'rdev.io/project': 'bench' } });
  console.log(JSON.stringify({ kubeconfigPath: server.kubeconfigPath, mounted: server.workspaceMounted, podDir: pod.dir }));
  process.stdin.resume();
  await new Promise((r) => process.stdin.once('end', r));
  await server.close();
}

if (process.argv[1] === self) await serve();
