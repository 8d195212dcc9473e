/**
 * Running the machine's real `kubectl` against a {@link KubeApiServer}.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type { KubeApiServer } from './types.js';

/** Options of {@link runKubectl}. */
export interface RunKubectlOptions {
  /** Written to kubectl's stdin, which is then closed. @default stdin is /dev/null */
  input?: string;
  /** Kill kubectl after this long and reject. @default 20_000 */
  timeoutMs?: number;
  /** @default 'kubectl' (from PATH) */
  kubectl?: string;
}

/** What kubectl printed and how it exited. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kubectl <args>` with `KUBECONFIG` pointing at the server and a private `KUBECACHEDIR`
 * (in the server's temp dir), so the user's `~/.kube` is neither read nor written.
 */
export function runKubectl(server: Pick<KubeApiServer, 'kubeconfigPath'>, args: readonly string[], opts: RunKubectlOptions = {}): Promise<KubectlResult> {
  const env = {
    ...process.env,
    KUBECONFIG: server.kubeconfigPath,
    KUBECACHEDIR: join(dirname(server.kubeconfigPath), 'kubectl-cache'),
  };
  return new Promise((resolve, reject) => {
    const child = spawn(opts.kubectl ?? 'kubectl', args, { env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    child.stdin?.end(opts.input);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kubectl ${args.join(' ')} timed out; stderr: ${Buffer.concat(err).toString()}`));
    }, opts.timeoutMs ?? 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}
