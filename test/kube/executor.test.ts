// The kube executor through the real @kubernetes/client-node (pods/exec over WebSocket) against the
// Kubernetes API test server, whose commands are real processes: output, exit codes, stdin,
// workdir, cancel in the pod, cut connections and deleted pods.
import { mkdirSync, symlinkSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecOutcome, ExecRequest, Executor } from '../../src/exec/executor.js';
import { createKubeExecutor } from '../../src/exec/kube.js';
import { createKubeRegistry, type KubeRegistry } from '../../src/projects/kube.js';
import { startKubeApiServer, type KubeApiServer, type TestPod } from '../support/kube-api/index.js';
import { recorder, until } from './wait.js';

const NS = 'rdev';
const LABEL = 'rdev.io/project';
const KILL_GRACE_MS = 500;
let server: KubeApiServer;
let kc: KubeConfig;
let registry: KubeRegistry;
let executor: Executor;
let demo: TestPod;
let pods = 0;

beforeAll(async () => {
  server = await startKubeApiServer();
  kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  demo = server.addPod({ name: 'claudebox-demo-0', namespace: NS, labels: { [LABEL]: 'demo' } });
  registry = createKubeRegistry({ kubeConfig: kc, namespace: NS, projectLabel: LABEL, workspace: '/workspace' });
  executor = createKubeExecutor({ kubeConfig: kc, namespace: NS, container: 'claudebox', pods: registry, killGraceMs: KILL_GRACE_MS });
  await until('the registry', () => registry.readiness().ready);
});

afterAll(async () => {
  await executor?.close();
  await registry?.close();
  await server?.close();
});

/** A fresh pod (known to the registry), for tests that kill, cut or delete. */
async function freshPod(): Promise<TestPod> {
  const pod = server.addPod({ name: `claudebox-t${++pods}-0`, namespace: NS, labels: { [LABEL]: `t${pods}` } });
  await until('the registry to see the pod', () => registry.get(`t${pods}`));
  return pod;
}

/** Runs argv in `pod` and collects its output: the text per stream and the chunks in arrival order. */
function run(pod: TestPod, argv: string[], over: Partial<ExecRequest> = {}, ex: Executor = executor) {
  const chunks = recorder<{ stream: 'STDOUT' | 'STDERR'; text: string }>();
  const abort = new AbortController();
  const started = Date.now();
  const outcome: Promise<ExecOutcome> = ex.run({
    // Without the root-only mount sandbox the test server runs commands in the pod dir itself.
    target: { projectId: pod.name, workspace: server.workspaceMounted ? '/workspace' : pod.dir, pod: pod.name },
    argv,
    workdir: '',
    onOutput: (stream, bytes) => chunks.push({ stream, text: bytes.toString() }),
    signal: abort.signal,
    ...over,
  });
  const text = (stream: 'STDOUT' | 'STDERR') => chunks.items.filter((c) => c.stream === stream).map((c) => c.text).join('');
  return {
    outcome,
    abort,
    elapsed: () => Date.now() - started,
    stdout: () => text('STDOUT'),
    stderr: () => text('STDERR'),
    /** Resolves once stdout contains `s`. */
    printed: (s: string) => chunks.waitFor(`"${s}" on stdout`, () => text('STDOUT').includes(s)),
  };
}

describe('kube executor: output and exit codes', () => {
  it('delivers stdout and stderr apart and exits 0', async () => {
    const r = run(demo, ['sh', '-c', 'echo out; echo err >&2']);
    expect({ outcome: await r.outcome, stdout: r.stdout(), stderr: r.stderr() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: 'out\n', stderr: 'err\n' });
  });

  it('reports a non-zero exit code from the status channel', async () => {
    const r = run(demo, ['sh', '-c', 'echo failing >&2; exit 42']);
    expect({ outcome: await r.outcome, stderr: r.stderr() }).toEqual({ outcome: { type: 'exited', exitCode: 42 }, stderr: 'failing\n' });
  });

  it('reports 127 for a command that does not exist', async () => {
    const r = run(demo, ['no-such-command-rdev']);
    expect({ outcome: await r.outcome, stderr: r.stderr() }).toEqual({ outcome: { type: 'exited', exitCode: 127 }, stderr: expect.stringContaining('no-such-command-rdev: not found') });
  });

  it('writes stdin, then ends it', async () => {
    const r = run(demo, ['sh', '-c', 'cat; echo "<eof>"'], { stdin: 'line one\nline two\n' });
    expect({ outcome: await r.outcome, stdout: r.stdout() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: 'line one\nline two\n<eof>\n' });
  });

  it('without stdin, the command reads end-of-file at once', async () => {
    const r = run(demo, ['sh', '-c', 'wc -c']);
    expect({ outcome: await r.outcome, stdout: r.stdout().trim() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: '0' });
  });

  it('runs in the workdir inside the workspace, and passes env', async () => {
    mkdirSync(join(demo.dir, 'sub', 'dir'), { recursive: true });
    const r = run(demo, ['sh', '-c', 'pwd; echo "$GREETING"'], { workdir: 'sub/dir', env: { GREETING: "it's me" } });
    const workspace = server.workspaceMounted ? '/workspace' : demo.dir;
    expect({ outcome: await r.outcome, stdout: r.stdout() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: `${workspace}/sub/dir\n${"it's me"}\n` });
  });

  it('refuses a workdir that leads outside the workspace through a symlink in the pod', async () => {
    symlinkSync('/etc', join(demo.dir, 'escape'));
    const r = run(demo, ['ls'], { workdir: 'escape' });
    const workspace = server.workspaceMounted ? '/workspace' : demo.dir;
    expect({ outcome: await r.outcome, stdout: r.stdout(), stderr: r.stderr() }).toEqual({
      outcome: { type: 'exited', exitCode: 125 },
      stdout: '',
      stderr: `rdev: ${workspace}/escape leads outside the workspace ${workspace}\n`,
    });
  });

  it('delivers many lines of both streams, each stream in order', async () => {
    const n = 5000;
    const r = run(demo, ['sh', '-c', `i=1; while [ $i -le ${n} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`]);
    const lines = (prefix: string) => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}\n`).join('');
    expect(await r.outcome).toEqual({ type: 'exited', exitCode: 0 });
    expect(r.stdout() === lines('out') && r.stderr() === lines('err')).toBe(true);
  });

  it('rejects a pod that does not exist, in words', async () => {
    const r = run({ ...demo, name: 'missing-0' }, ['true']);
    await expect(r.outcome).rejects.toThrow('pod missing-0 not found (404)');
  });
});

describe('kube executor: cancel, lost connections and deleted pods', () => {
  it('cancel stops the whole process group in the pod (SIGTERM)', async () => {
    const pod = await freshPod();
    const r = run(pod, ['sh', '-c', 'sleep 60 & echo started; wait']);
    await r.printed('started');
    expect(server.livePids(NS, pod.name).length).toBeGreaterThanOrEqual(3); // setsid -w, the wrapper, sh, sleep
    r.abort.abort();
    expect(await r.outcome).toEqual({ type: 'aborted' });
    expect(r.elapsed()).toBeLessThan(KILL_GRACE_MS + 5000);
    await until('no process left in the pod', () => server.livePids(NS, pod.name), (pids) => pids.length === 0, 2000);
  });

  it('cancel SIGKILLs a group that ignores SIGTERM after the grace', async () => {
    const pod = await freshPod();
    const r = run(pod, ['sh', '-c', `trap '' TERM; sleep 60 & echo started; wait`]);
    await r.printed('started');
    const abortedAt = Date.now();
    r.abort.abort();
    expect(await r.outcome).toEqual({ type: 'aborted' });
    expect(Date.now() - abortedAt).toBeGreaterThanOrEqual(KILL_GRACE_MS);
    await until('no process left in the pod', () => server.livePids(NS, pod.name), (pids) => pids.length === 0, 2000);
  });

  it('a cut exec connection ends as lost within seconds, and the orphaned command is stopped', async () => {
    const pod = await freshPod();
    const r = run(pod, ['sh', '-c', 'sleep 60 & echo started; wait']);
    await r.printed('started');
    server.cutExecConnections(NS, pod.name);
    expect(await r.outcome).toEqual({ type: 'lost', reason: 'the connection to the pod closed without an exit status (WebSocket close code 1006)' });
    expect(r.elapsed()).toBeLessThan(5000);
    // The process outlives its socket (as in a real pod); the executor then kills its group by a second exec.
    await until('the orphaned processes to be killed', () => server.livePids(NS, pod.name), (pids) => pids.length === 0, KILL_GRACE_MS + 5000);
  });

  it('a pod deleted mid-run ends the command as lost, saying the pod was deleted', async () => {
    const pod = await freshPod();
    const r = run(pod, ['sh', '-c', 'sleep 60 & echo started; wait']);
    await r.printed('started');
    await server.deletePod(NS, pod.name);
    expect(await r.outcome).toEqual({ type: 'lost', reason: `pod ${pod.name} was deleted` });
    expect(r.elapsed()).toBeLessThan(5000);
  });

  it('notices a deleted pod without the registry too (the exec dies of SIGKILL and the pod is gone)', async () => {
    const pod = await freshPod();
    const alone = createKubeExecutor({ kubeConfig: kc, namespace: NS, container: 'claudebox' });
    try {
      const r = run(pod, ['sh', '-c', 'echo started; exec sleep 60'], {}, alone);
      await r.printed('started');
      await server.deletePod(NS, pod.name);
      expect(await r.outcome).toEqual({ type: 'lost', reason: `pod ${pod.name} was deleted` });
    } finally {
      await alone.close();
    }
  });

  it('a connection that goes silent (no FIN, no pongs) ends as lost after the heartbeat deadline', async () => {
    const pod = await freshPod();
    const proxy = await freezableProxy(new URL(server.url));
    const viaProxy = new KubeConfig();
    viaProxy.loadFromString(server.kubeconfigYaml.replace(server.url, proxy.url));
    const own = createKubeExecutor({ kubeConfig: viaProxy, namespace: NS, container: 'claudebox', heartbeatMs: 50, deadAfterMs: 400, killGraceMs: KILL_GRACE_MS });
    try {
      const r = run(pod, ['sh', '-c', 'sleep 60 & echo started; wait'], {}, own);
      await r.printed('started');
      proxy.freeze();
      const frozenAt = Date.now();
      expect(await r.outcome).toEqual({ type: 'lost', reason: expect.stringMatching(/^the connection to the pod closed without an exit status: no answer to WebSocket pings for \d+ s$/) });
      expect(Date.now() - frozenAt).toBeLessThan(3000);
      // New connections still pass: the executor's clean-up exec stops the orphaned command.
      await until('the orphaned processes to be killed', () => server.livePids(NS, pod.name), (pids) => pids.length === 0, KILL_GRACE_MS + 5000);
    } finally {
      await own.close();
      proxy.close();
    }
  });

  it('close() stops running commands and their processes', async () => {
    const pod = await freshPod();
    const own = createKubeExecutor({ kubeConfig: kc, namespace: NS, container: 'claudebox', killGraceMs: KILL_GRACE_MS });
    const r = run(pod, ['sh', '-c', 'sleep 60 & echo started; wait'], {}, own);
    await r.printed('started');
    await own.close();
    expect(await r.outcome).toEqual({ type: 'aborted' });
    await until('no process left in the pod', () => server.livePids(NS, pod.name), (pids) => pids.length === 0, 2000);
    await expect(own.run({ target: { projectId: 'x', workspace: '/workspace', pod: pod.name }, argv: ['true'], workdir: '', onOutput: () => {}, signal: new AbortController().signal })).rejects.toThrow(
      'the Kubernetes executor is closed',
    );
  });
});

/** A TCP proxy to `target` whose open connections can be frozen: nothing passes, nothing closes. */
async function freezableProxy(target: URL) {
  const pairs = new Set<[Socket, Socket]>();
  const proxy = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    for (const s of pair) {
      s.on('error', () => undefined);
      s.on('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    freeze() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close() {
      for (const pair of pairs) for (const s of pair) s.destroy();
      proxy.close();
    },
  };
}
