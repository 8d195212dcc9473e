/**
 * One command in a pod: the in-process kube executor (client-node over WebSocket; `start`, then
 * `attach` until it exited: two execs, the supervisor in between) against one `kubectl exec`, on
 * the same Kubernetes API test server, which runs in its own process so that only the client's CPU
 * and memory are counted.
 *
 *     node --import tsx bench/kube-exec.ts            # BENCH_RUNS (default 20) of each
 *
 * - warm: consecutive start + attach of one executor in this process; CPU from `process.cpuUsage()`.
 * - cold: a fresh Node process per run, modules loaded, timing its first start + attach; RSS is the
 *   growth of its peak (`maxRSS`) over them, with the whole process's peak beside it.
 * - kubectl: `kubectl exec` under `/usr/bin/time` (wall, user+sys, max RSS of the tree).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeExecutor } from '../src/exec/kube.js';
import type { Executor } from '../src/exec/executor.js';
import { runKubectl } from '../test/support/kube-api/index.js';
import { NS, POD, startKubeApiProcess } from './kube-api-process.js';

const ARGV = ['true'];
const self = fileURLToPath(import.meta.url);

interface Sample {
  ms: number;
  cpuMs: number;
  /** Growth of the peak RSS over the exec. */
  rssMiB: number;
  /** The whole process's peak RSS (cold runs). */
  totalRssMiB?: number;
}

function executorFor(kubeconfigPath: string): Executor {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return createKubeExecutor({ kubeConfig: kc, namespace: NS, container: 'claudebox' });
}

/** One start + attach through the executor (then the spool is removed, untimed): wall and CPU of this process. */
async function once(executor: Executor, workspace: string): Promise<Omit<Sample, 'rssMiB'>> {
  const ref = { target: { projectId: 'bench', workspace, pod: POD }, commandId: `bench-${randomBytes(6).toString('hex')}` };
  const cpu = process.cpuUsage();
  const t = performance.now();
  await executor.start({ ...ref, argv: ARGV, workdir: '' });
  const outcome = await executor.attach({ ...ref, offsets: { stdout: 0, stderr: 0 }, onOutput: () => undefined, signal: new AbortController().signal });
  const ms = performance.now() - t;
  if (outcome.type !== 'exited' || outcome.exitCode !== 0) throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
  const used = process.cpuUsage(cpu);
  await executor.remove(ref);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

/** `cold <kubeconfig> <workspace>`: a fresh process's first exec; prints one Sample. */
async function cold(kubeconfigPath: string, workspace: string): Promise<void> {
  const before = process.resourceUsage().maxRSS;
  const executor = executorFor(kubeconfigPath);
  const s = await once(executor, workspace);
  await executor.close();
  const peak = process.resourceUsage().maxRSS;
  console.log(JSON.stringify({ ...s, rssMiB: (peak - before) / 1024, totalRssMiB: peak / 1024 }));
}

function child(args: string[]): { lines: AsyncIterableIterator<string>; end: () => void; done: Promise<unknown> } {
  const p = spawn(process.execPath, ['--import', 'tsx', self, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  return { lines, end: () => p.stdin.end(), done: new Promise((r) => p.on('close', r)) };
}

async function firstLine(c: ReturnType<typeof child>): Promise<string> {
  const { value, done } = await c.lines.next();
  if (done) throw new Error('the child printed nothing');
  return value;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function report(name: string, samples: Sample[]): void {
  const f = (xs: number[]) => median(xs).toFixed(1).padStart(7);
  const total = samples[0]?.totalRssMiB === undefined ? '' : ` (process peak ${f(samples.map((s) => s.totalRssMiB ?? 0))} MiB, node + tsx included)`;
  console.log(
    `  ${name.padEnd(34)} wall ${f(samples.map((s) => s.ms))} ms   cpu ${f(samples.map((s) => s.cpuMs))} ` +
      `ms   RSS ${f(samples.map((s) => s.rssMiB))} MiB${total}`,
  );
}

async function main(): Promise<void> {
  const runs = Number(process.env.BENCH_RUNS ?? 20);
  const server = await startKubeApiProcess();
  const { kubeconfigPath, mounted } = server;
  const workspace = mounted ? '/workspace' : '/';
  try {
    // warm: one executor, consecutive runs after a few to warm up.
    const executor = executorFor(kubeconfigPath);
    for (let i = 0; i < 3; i++) await once(executor, workspace);
    const baseRss = process.memoryUsage().rss;
    const warm: Sample[] = [];
    for (let i = 0; i < runs; i++) warm.push({ ...(await once(executor, workspace)), rssMiB: (process.memoryUsage().rss - baseRss) / 1024 / 1024 });
    await executor.close();

    const coldRuns: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const c = child(['cold', kubeconfigPath, workspace]);
      coldRuns.push(JSON.parse(await firstLine(c)) as Sample);
      await c.done;
    }

    const kubectl: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const out = join(tmpdir(), `kube-exec-bench-${process.pid}-${i}.time`);
      const r = await runKubectl({ kubeconfigPath }, ['-f', '%e %U %S %M', '-o', out, 'kubectl', 'exec', '-n', NS, POD, '--', ...ARGV], {
        kubectl: '/usr/bin/time',
      });
      if (r.code !== 0) throw new Error(`kubectl exec failed: ${r.stderr}`);
      const [wall, user, sys, maxKiB] = readFileSync(out, 'utf8').trim().split(/\s+/).slice(-4).map(Number);
      rmSync(out, { force: true });
      kubectl.push({ ms: wall! * 1000, cpuMs: (user! + sys!) * 1000, rssMiB: maxKiB! / 1024 });
    }

    console.log(`${JSON.stringify(ARGV)} in a test pod (executor: start + attach; kubectl: one exec), median of ${runs} runs`);
    report('kube executor, warm (in process)', warm);
    console.log('    RSS: growth of the client process over the exec(s); kubectl: max RSS of its process tree');
    report('kube executor, cold (fresh node)', coldRuns);
    report('kubectl exec (process tree)', kubectl);
  } finally {
    await server.stop();
  }
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'cold') await cold(rest[0]!, rest[1]!);
else await main();
