// The kube executor through the real @kubernetes/client-node (pods/exec over WebSocket) against the
// Kubernetes API test server, whose commands are real processes: start + attach by offset, exit
// codes, stdin, workdir, signals from any executor, cut connections, deleted pods, a killed supervisor.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AttachOutcome, Executor, Offsets, StartRequest } from '../../src/exec/executor.js';
import { createKubeExecutor } from '../../src/exec/kube.js';
import { spoolDirOf } from '../../src/exec/supervisor.js';
import { createKubeRegistry, type KubeRegistry } from '../../src/projects/kube.js';
import { startKubeApiServer, type KubeApiServer, type TestPod } from '../support/kube-api/index.js';
import { recorder, until } from './wait.js';

const NS = 'rdev';
const LABEL = 'rdev.io/project';
// Pods of the test server share this machine's /tmp: one spool root for this file.
const SPOOL = mkdtempSync(join(tmpdir(), 'rdev-kube-spool-'));
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
  executor = newExecutor();
  await until('the registry', () => registry.readiness().ready);
});

afterAll(async () => {
  await executor?.close();
  await registry?.close();
  await server?.close();
  rmSync(SPOOL, { recursive: true, force: true });
});

function newExecutor(over: Partial<Parameters<typeof createKubeExecutor>[0]> = {}): Executor {
  return createKubeExecutor({ kubeConfig: kc, namespace: NS, container: 'claudebox', spoolDir: SPOOL, pods: registry, ...over });
}

/** A fresh pod (known to the registry), for tests that kill, cut or delete. */
async function freshPod(): Promise<TestPod> {
  const pod = server.addPod({ name: `claudebox-t${++pods}-0`, namespace: NS, labels: { [LABEL]: `t${pods}` } });
  await until('the registry to see the pod', () => registry.get(`t${pods}`));
  return pod;
}

const workspaceOf = (pod: TestPod) => (server.workspaceMounted ? '/workspace' : pod.dir);
// Without the root-only mount sandbox the test server runs commands in the pod dir itself.
const refOf = (pod: TestPod, commandId: string) => ({ target: { projectId: pod.name, workspace: workspaceOf(pod), pod: pod.name }, commandId });
const newId = () => `c-${randomBytes(6).toString('hex')}`;

/** Starts argv in `pod` under a fresh command id. */
async function start(pod: TestPod, argv: string[], over: Partial<StartRequest> = {}, ex: Executor = executor) {
  const ref = refOf(pod, newId());
  const started = await ex.start({ ...ref, argv, workdir: '', ...over });
  return { ...ref, started, spool: spoolDirOf(SPOOL, ref.commandId) };
}

/** Attaches to a command from `offsets`, recording every chunk as received. */
function attach(ref: ReturnType<typeof refOf>, offsets: Offsets = { stdout: 0, stderr: 0 }, ex: Executor = executor) {
  const chunks = recorder<{ stream: 'STDOUT' | 'STDERR'; bytes: Buffer }>();
  const abort = new AbortController();
  const outcome: Promise<AttachOutcome> = ex.attach({
    ...ref,
    offsets,
    onOutput: (stream, bytes) => chunks.push({ stream, bytes: Buffer.from(bytes) }),
    signal: abort.signal,
  });
  const bytes = (stream: 'STDOUT' | 'STDERR') => Buffer.concat(chunks.items.filter((c) => c.stream === stream).map((c) => c.bytes));
  return {
    outcome,
    abort,
    stdout: () => bytes('STDOUT').toString(),
    stderr: () => bytes('STDERR').toString(),
    /** Where the next attach starts: the given offsets plus every byte received. */
    reached: (): Offsets => ({ stdout: offsets.stdout + bytes('STDOUT').length, stderr: offsets.stderr + bytes('STDERR').length }),
    /** Resolves once stdout contains `s`. */
    printed: (s: string) => chunks.waitFor(`"${s}" on stdout`, () => bytes('STDOUT').toString().includes(s)),
  };
}

/** Start, then attach from the beginning until the end. */
async function run(pod: TestPod, argv: string[], over: Partial<StartRequest> = {}) {
  const s = await start(pod, argv, over);
  const a = attach(s);
  return { started: s.started, outcome: await a.outcome, stdout: a.stdout(), stderr: a.stderr() };
}

const ticks = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `tick ${from + i}\n`).join('');
/** A counter printing `tick <i>` every 30 ms, `n` times. */
const counter = (n: number) => ['sh', '-c', `i=0; while [ $i -lt ${n} ]; do echo "tick $i"; i=$((i+1)); sleep 0.03; done`];
const cmdlineOf = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
};
const followersIn = (pod: TestPod) => server.livePids(NS, pod.name).filter((pid) => cmdlineOf(pid).includes('rdev-follow'));

describe('kube executor: start, attach, exit codes', () => {
  it('delivers stdout and stderr apart and exits 0, with the group id from start', async () => {
    const r = await run(demo, ['sh', '-c', 'echo out; echo err >&2']);
    expect({ outcome: r.outcome, stdout: r.stdout, stderr: r.stderr, pgid: typeof r.started.pgid }).toEqual({
      outcome: { type: 'exited', exitCode: 0 },
      stdout: 'out\n',
      stderr: 'err\n',
      pgid: 'number',
    });
  });

  it('reports a non-zero exit code', async () => {
    const r = await run(demo, ['sh', '-c', 'echo failing >&2; exit 42']);
    expect({ outcome: r.outcome, stderr: r.stderr }).toEqual({ outcome: { type: 'exited', exitCode: 42 }, stderr: 'failing\n' });
  });

  it('keeps a real exit 255 as exited 255 (the follower says 255 for "cannot tell" too)', async () => {
    const r = await run(demo, ['sh', '-c', 'echo bye; exit 255']);
    expect({ outcome: r.outcome, stdout: r.stdout }).toEqual({ outcome: { type: 'exited', exitCode: 255 }, stdout: 'bye\n' });
  });

  it('keeps a real exit 255 of a command that was still running at attach', async () => {
    const s = await start(demo, ['sh', '-c', 'echo begin; sleep 0.3; echo end; exit 255']);
    const a = attach(s);
    expect({ outcome: await a.outcome, stdout: a.stdout() }).toEqual({ outcome: { type: 'exited', exitCode: 255 }, stdout: 'begin\nend\n' });
  });

  it('reports 127 for a command that does not exist', async () => {
    const r = await run(demo, ['no-such-command-rdev']);
    expect({ outcome: r.outcome, stderr: r.stderr }).toEqual({
      outcome: { type: 'exited', exitCode: 127 },
      stderr: expect.stringContaining('no-such-command-rdev'),
    });
  });

  it('gives the command its stdin, then end-of-file', async () => {
    const r = await run(demo, ['sh', '-c', 'cat; echo "<eof>"'], { stdin: 'line one\nline two\n' });
    expect({ outcome: r.outcome, stdout: r.stdout }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: 'line one\nline two\n<eof>\n' });
  });

  it('without stdin, the command reads end-of-file at once', async () => {
    const r = await run(demo, ['sh', '-c', 'wc -c']);
    expect({ outcome: r.outcome, stdout: r.stdout.trim() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: '0' });
  });

  it('runs in the workdir inside the workspace, and passes env', async () => {
    mkdirSync(join(demo.dir, 'sub', 'dir'), { recursive: true });
    const r = await run(demo, ['sh', '-c', 'pwd; echo "$GREETING"'], { workdir: 'sub/dir', env: { GREETING: "it's me" } });
    expect({ outcome: r.outcome, stdout: r.stdout }).toEqual({
      outcome: { type: 'exited', exitCode: 0 },
      stdout: `${workspaceOf(demo)}/sub/dir\n${"it's me"}\n`,
    });
  });

  it('refuses a workdir that leads outside the workspace: no group, exited 125 with the rdev line on stderr', async () => {
    symlinkSync('/etc', join(demo.dir, 'escape'));
    const r = await run(demo, ['ls'], { workdir: 'escape' });
    const workspace = workspaceOf(demo);
    expect(r).toEqual({
      started: { pgid: null },
      outcome: { type: 'exited', exitCode: 125 },
      stdout: '',
      stderr: `rdev: ${workspace}/escape leads outside the workspace ${workspace}\n`,
    });
  });

  it('delivers many lines of both streams, each stream in order', async () => {
    const n = 5000;
    const r = await run(demo, ['sh', '-c', `i=1; while [ $i -le ${n} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`]);
    const lines = (prefix: string) => Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}\n`).join('');
    expect(r.outcome).toEqual({ type: 'exited', exitCode: 0 });
    expect(r.stdout === lines('out') && r.stderr === lines('err')).toBe(true);
  });

  it('attaching from offsets delivers exactly the rest of each stream', async () => {
    const s = await start(demo, ['sh', '-c', 'printf 0123456789; printf abcdef >&2']);
    expect(await attach(s).outcome).toEqual({ type: 'exited', exitCode: 0 });
    const a = attach(s, { stdout: 4, stderr: 5 });
    expect({ outcome: await a.outcome, stdout: a.stdout(), stderr: a.stderr() }).toEqual({
      outcome: { type: 'exited', exitCode: 0 },
      stdout: '456789',
      stderr: 'f',
    });
  });

  it('an attach from other offsets than the start left its follower at: that follower ends, the attach reads from its offsets', async () => {
    const pod = await freshPod();
    const s = await start(pod, ['sh', '-c', 'printf 0123456789; printf abcdef >&2']);
    const a = attach(s, { stdout: 4, stderr: 5 });
    expect({ outcome: await a.outcome, stdout: a.stdout(), stderr: a.stderr() }).toEqual({
      outcome: { type: 'exited', exitCode: 0 },
      stdout: '456789',
      stderr: 'f',
    });
    await until(
      'no follower left in the pod',
      () => followersIn(pod),
      (pids) => pids.length === 0,
    );
  });

  it("rejects a start whose spool cannot be made, with the start script's words", async () => {
    const file = join(SPOOL, `not-a-dir-${newId()}`);
    writeFileSync(file, '');
    const ex = newExecutor({ spoolDir: join(file, 'spool') });
    try {
      await expect(start(demo, ['true'], {}, ex)).rejects.toThrow(
        /cannot start the command in pod claudebox-demo-0: the start script exited 125: rdev: cannot create the spool/,
      );
    } finally {
      await ex.close();
    }
  });

  it('rejects a start in a pod that does not exist, in words', async () => {
    await expect(start({ ...demo, name: 'missing-0' }, ['true'])).rejects.toThrow('cannot start the command in pod missing-0: pod missing-0 not found (404)');
  });

  it('remove deletes the spool', async () => {
    const s = await start(demo, ['true']);
    expect(await attach(s).outcome).toEqual({ type: 'exited', exitCode: 0 });
    await executor.remove(s);
    expect(existsSync(s.spool)).toBe(false);
  });
});

describe('kube executor: detach, re-attach, cut connections', () => {
  it('detach, then re-attach from the offsets reached: the whole output once, byte for byte', async () => {
    const s = await start(demo, counter(40));
    const first = attach(s);
    await first.printed('tick 5\n');
    first.abort.abort();
    expect(await first.outcome).toEqual({ type: 'detached' });
    const second = attach(s, first.reached());
    expect(await second.outcome).toEqual({ type: 'exited', exitCode: 0 });
    expect(first.stdout() + second.stdout()).toBe(ticks(0, 40));
  });

  it('an exec cut while the pod lives: disconnected, the command runs on, a re-attach gets the rest', async () => {
    const pod = await freshPod();
    const s = await start(pod, counter(60));
    const first = attach(s);
    await first.printed('tick 5\n');
    server.cutExecConnections(NS, pod.name);
    expect(await first.outcome).toEqual({
      type: 'disconnected',
      reason: 'the connection to the pod closed without an exit status (WebSocket close code 1006)',
    });
    // It runs on: its output keeps growing in the spool.
    const size = statSync(join(s.spool, 'stdout')).size;
    await until(
      'the command to print more',
      () => statSync(join(s.spool, 'stdout')).size,
      (n) => n > size,
    );
    // The follower of the cut connection has seen end-of-file on its stdin and stopped.
    await until(
      'the cut follower to stop',
      () => followersIn(pod),
      (pids) => pids.length === 0,
      10_000,
    );
    const second = attach(s, first.reached());
    expect(await second.outcome).toEqual({ type: 'exited', exitCode: 0 });
    expect(first.stdout() + second.stdout()).toBe(ticks(0, 60));
  });

  it('close() detaches what is attached; the command runs on and another executor reads the rest', async () => {
    const own = newExecutor();
    const s = await start(demo, counter(30), {}, own);
    const first = attach(s, undefined, own);
    await first.printed('tick 3\n');
    await own.close();
    expect(await first.outcome).toEqual({ type: 'detached' });
    await expect(own.start({ ...refOf(demo, newId()), argv: ['true'], workdir: '' })).rejects.toThrow('the Kubernetes executor is closed');
    const second = attach(s, first.reached());
    expect(await second.outcome).toEqual({ type: 'exited', exitCode: 0 });
    expect(first.stdout() + second.stdout()).toBe(ticks(0, 30));
  });

  it('a connection that goes silent (no FIN, no pongs) ends disconnected after the heartbeat deadline', async () => {
    const pod = await freshPod();
    const proxy = await freezableProxy(new URL(server.url));
    const viaProxy = new KubeConfig();
    viaProxy.loadFromString(server.kubeconfigYaml.replace(server.url, proxy.url));
    const own = createKubeExecutor({ kubeConfig: viaProxy, namespace: NS, container: 'claudebox', spoolDir: SPOOL, heartbeatMs: 50, deadAfterMs: 400 });
    try {
      const s = await start(pod, ['sh', '-c', 'echo started; exec sleep 60'], {}, own);
      const a = attach(s, undefined, own);
      await a.printed('started');
      proxy.freeze();
      const frozenAt = Date.now();
      expect(await a.outcome).toEqual({
        type: 'disconnected',
        reason: expect.stringMatching(/^the connection to the pod closed without an exit status: no answer to WebSocket pings for \d+ s$/),
      });
      expect(Date.now() - frozenAt).toBeLessThan(5000);
      await executor.signal(s, 'SIGKILL');
    } finally {
      await own.close();
      proxy.close();
    }
  });
});

describe('kube executor: signals, deleted pods, a dead supervisor', () => {
  it('SIGTERM reaches the whole tree: its processes are gone and the attach ends exited 143', async () => {
    const pod = await freshPod();
    const s = await start(pod, ['sh', '-c', 'sleep 60 & echo started; wait']);
    const a = attach(s);
    await a.printed('started');
    await executor.signal(s, 'SIGTERM');
    expect(await a.outcome).toEqual({ type: 'exited', exitCode: 143 });
    await until(
      'no process left in the pod',
      () => server.livePids(NS, pod.name),
      (pids) => pids.length === 0,
      10_000,
    );
  });

  it('a signal from another executor (another server) reaches the command', async () => {
    const pod = await freshPod();
    const s = await start(pod, ['sh', '-c', 'echo started; exec sleep 60']);
    const a = attach(s);
    await a.printed('started');
    const other = newExecutor({ pods: undefined });
    try {
      await other.signal(s, 'SIGKILL');
    } finally {
      await other.close();
    }
    expect(await a.outcome).toEqual({ type: 'exited', exitCode: 137 });
  });

  it('a signal into a pod that does not exist rejects', async () => {
    await expect(executor.signal(refOf({ ...demo, name: 'missing-0' }, newId()), 'SIGTERM')).rejects.toThrow('pod missing-0 not found (404)');
  });

  it('a pod deleted while attached ends lost, naming the pod', async () => {
    const pod = await freshPod();
    const s = await start(pod, ['sh', '-c', 'sleep 60 & echo started; wait']);
    const a = attach(s);
    await a.printed('started');
    await server.deletePod(NS, pod.name);
    expect(await a.outcome).toEqual({ type: 'lost', reason: `pod ${pod.name} was deleted` });
  });

  it('notices a deleted pod without the registry too (through the API)', async () => {
    const pod = await freshPod();
    const alone = newExecutor({ pods: undefined });
    try {
      const s = await start(pod, ['sh', '-c', 'echo started; exec sleep 60'], {}, alone);
      const a = attach(s, undefined, alone);
      await a.printed('started');
      await server.deletePod(NS, pod.name);
      expect(await a.outcome).toEqual({ type: 'lost', reason: `pod ${pod.name} was deleted` });
    } finally {
      await alone.close();
    }
  });

  it('a supervisor killed in the pod (no exit record) ends lost, saying so', async () => {
    const pod = await freshPod();
    const s = await start(pod, ['sh', '-c', 'echo started; exec sleep 60']);
    const a = attach(s);
    await a.printed('started');
    process.kill(Number(readFileSync(join(s.spool, 'supervisor'), 'utf8').trim()), 'SIGKILL');
    expect(await a.outcome).toEqual({ type: 'lost', reason: expect.stringContaining(`the supervisor died without an exit record`) });
    await executor.signal(s, 'SIGKILL');
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
