/**
 * Throughput of a supervised command's output: `seq 1 1000000` (6,888,896 bytes) delivered to a
 * consumer that counts bytes, through each executor's `start` + `attach` (spool files followed by
 * byte offset), against the path each had before the supervisor, all in one run:
 *
 *     node --import tsx bench/supervisor-throughput.ts   # or: npm run bench -- supervisor
 *
 * - local, direct: `spawn('seq', …)` read to its end (the anchor for local).
 * - local, supervised: `createLocalExecutor` start + attach until `exited`.
 * - kube, direct: one client-node `Exec` (one WebSocket, stdout to a counting Writable, then the
 *   status), as the executor did before the supervisor (the anchor for kube).
 * - kube, supervised: `createKubeExecutor` start + attach until `exited`.
 * - kubectl exec: the same command through `kubectl exec`, stdout counted here.
 *
 * The Kubernetes API test server runs in a process of its own (`kube-api-process.ts`), so this
 * process's CPU (printed beside each row) is the client's only. Each round runs every row once, in
 * order; one untimed warm-up round comes first; the figures are medians of BENCH_ROUNDS (default 3).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Exec, KubeConfig, type V1Status } from '@kubernetes/client-node';
import { WebSocketHandler, type WebSocketInterface } from '@kubernetes/client-node/dist/web-socket-handler.js';
import type { ExecTarget, Executor } from '../src/exec/executor.js';
import { createKubeExecutor } from '../src/exec/kube.js';
import { createLocalExecutor } from '../src/exec/local.js';
import { NS, POD, startKubeApiProcess } from './kube-api-process.js';

const CONTAINER = 'claudebox';
const ARGV = ['seq', '1', '1000000'];
/** What `seq 1 1000000` prints. */
const BYTES = 6_888_896;
/** Supervised paths should stay within this factor of their direct anchor. */
const GOAL = 1.3;
const self = fileURLToPath(import.meta.url);

/** One way of running the command, timed from its first request to its last byte and its exit. */
interface Row {
  name: string;
  run: () => Promise<number>;
  /** The row this one is compared with. */
  anchor?: string;
  goal?: number;
}

interface Sample {
  ms: number;
  /** User + system CPU of this process over the run. */
  cpuMs: number;
}

/** Runs `file args` and counts its stdout to the end; rejects unless it exits 0. */
function countStdout(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(bytes) : reject(new Error(`${file} exited ${code}: ${stderr.trim()}`))));
  });
}

/** A Writable that counts what it is given. */
function counter(): { sink: Writable; bytes: () => number } {
  let n = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      n += chunk.length;
      callback();
    },
  });
  return { sink, bytes: () => n };
}

/**
 * One client-node exec as the executor did it before the supervisor: its own WebSocketHandler
 * (the server's CLOSE frames kept away from Exec), stdout to a counting Writable, then the status
 * and the socket's close.
 */
async function kubeDirect(kc: KubeConfig): Promise<number> {
  const out = counter();
  const err = new PassThrough().resume();
  const handler = new WebSocketHandler(kc, undefined, { stdin: new PassThrough(), stdout: out.sink, stderr: err });
  const ws: WebSocketInterface = {
    connect: (path, text, binary) => handler.connect(path, text, binary && ((channel, buff) => channel === 255 || binary(channel, buff))),
  };
  let status: V1Status | undefined;
  const socket = await new Exec(kc, ws).exec(NS, POD, CONTAINER, ARGV, out.sink, err, null, false, (s) => (status = s));
  if (socket.readyState !== socket.CLOSED) await new Promise((r) => socket.once('close', r));
  if (status?.status !== 'Success') throw new Error(`the exec ended without success: ${JSON.stringify(status)}`);
  return out.bytes();
}

/** `start` + `attach` from offset 0 until `exited`, counting stdout; `remove` deletes the spool (left to the caller, untimed). */
async function supervised(executor: Executor, target: ExecTarget): Promise<{ bytes: number; remove: () => Promise<void> }> {
  const ref = { target, commandId: `bench-${randomBytes(6).toString('hex')}` };
  let bytes = 0;
  await executor.start({ ...ref, argv: ARGV, workdir: '' });
  const outcome = await executor.attach({
    ...ref,
    offsets: { stdout: 0, stderr: 0 },
    onOutput: (stream, b) => {
      if (stream === 'STDOUT') bytes += b.length;
    },
    signal: new AbortController().signal,
  });
  if (outcome.type !== 'exited' || outcome.exitCode !== 0) throw new Error(`unexpected outcome ${JSON.stringify(outcome)}`);
  return { bytes, remove: () => executor.remove(ref) };
}

/** Times one run; the byte count must be the command's whole output. */
async function measure(row: Row): Promise<Sample> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  const bytes = await row.run();
  const ms = performance.now() - t;
  const used = process.cpuUsage(cpu);
  if (bytes !== BYTES) throw new Error(`${row.name}: ${bytes} bytes delivered, expected ${BYTES}`);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function report(rows: Row[], samples: Map<string, Sample[]>): void {
  const ms = (name: string) => median(samples.get(name)!.map((s) => s.ms));
  for (const row of rows) {
    const mine = samples.get(row.name)!;
    const m = ms(row.name);
    const ratio = row.anchor ? `${(m / ms(row.anchor)).toFixed(2).padStart(5)} x ${row.anchor}` : 'anchor';
    const goal = row.goal ? `  goal <= ${row.goal} x: ${m / ms(row.anchor!) <= row.goal ? 'met' : 'MISSED'}` : '';
    console.log(
      `  ${row.name.padEnd(20)} ${m.toFixed(0).padStart(6)} ms  ${(BYTES / 1e3 / m).toFixed(1).padStart(6)} MB/s  ` +
        `cpu ${median(mine.map((s) => s.cpuMs))
          .toFixed(0)
          .padStart(5)} ms  ${ratio.padEnd(26)}${goal}  (runs: ${mine.map((s) => s.ms.toFixed(0)).join(', ')})`,
    );
  }
}

/** The whole benchmark: starts the API server process, runs every row each round, prints medians, cleans up. */
export async function supervisorThroughput(): Promise<void> {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const server = await startKubeApiProcess();
  const temp = mkdtempSync(join(tmpdir(), 'rdev-sup-bench-'));
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  // Execs in the test pod run on this machine's filesystem (only /workspace is a private mount): the spool can live in our temp dir.
  const local = createLocalExecutor({ spoolDir: join(temp, 'local-spool') });
  const kube = createKubeExecutor({
    kubeConfig: kc,
    namespace: NS,
    container: CONTAINER,
    workspace: server.mounted ? '/workspace' : '/',
    spoolDir: join(temp, 'kube-spool'),
  });
  const localTarget: ExecTarget = { projectId: 'bench', workspace: temp };
  const kubeTarget: ExecTarget = { projectId: 'bench', workspace: server.mounted ? '/workspace' : '/', pod: POD };
  const kubectlEnv = { ...process.env, KUBECONFIG: server.kubeconfigPath, KUBECACHEDIR: join(dirname(server.kubeconfigPath), 'kubectl-cache') };
  const removals: Array<() => Promise<void>> = [];
  const viaExecutor = (executor: Executor, target: ExecTarget) => async () => {
    const { bytes, remove } = await supervised(executor, target);
    removals.push(remove); // untimed: done after the measurement
    return bytes;
  };
  const rows: Row[] = [
    { name: 'local, direct', run: () => countStdout(ARGV[0]!, ARGV.slice(1)) },
    { name: 'local, supervised', run: viaExecutor(local, localTarget), anchor: 'local, direct', goal: GOAL },
    { name: 'kube, direct', run: () => kubeDirect(kc) },
    { name: 'kube, supervised', run: viaExecutor(kube, kubeTarget), anchor: 'kube, direct', goal: GOAL },
    { name: 'kubectl exec', run: () => countStdout('kubectl', ['exec', '-n', NS, POD, '-c', CONTAINER, '--', ...ARGV], kubectlEnv), anchor: 'kube, direct' },
  ];
  const samples = new Map<string, Sample[]>(rows.map((r) => [r.name, []]));
  try {
    for (let round = 0; round <= rounds; round++) {
      for (const row of rows) {
        const s = await measure(row);
        if (round > 0) samples.get(row.name)!.push(s); // round 0 warms up
        for (const remove of removals.splice(0)) await remove();
      }
    }
    console.log(
      `supervisor throughput: ${JSON.stringify(ARGV)} (${BYTES} bytes) counted by the consumer, median ` +
        `of ${rounds} rounds after a warm-up; cpu is this process's`,
    );
    report(rows, samples);
    const kubectl = median(samples.get('kubectl exec')!.map((s) => s.ms));
    console.log(`  kube, supervised vs kubectl exec: ${(median(samples.get('kube, supervised')!.map((s) => s.ms)) / kubectl).toFixed(2)} x`);
  } finally {
    await Promise.allSettled([local.close(), kube.close()]);
    await server.stop();
    rmSync(temp, { recursive: true, force: true });
  }
}

// Run as a script (not imported by run.ts).
if (process.argv[1] === self) await supervisorThroughput();
