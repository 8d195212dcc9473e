// The Kubernetes API test server checked by clients nobody here wrote: the machine's kubectl
// and @kubernetes/client-node, over a real TLS socket.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ApiException, CoreV1Api, Exec, KubeConfig, Watch, type V1Pod, type V1Status } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKubectl, startKubeApiServer, type KubeApiServer, type TestPod } from '../support/kube-api/index.js';

const NS = 'rdev';
let server: KubeApiServer;
let demo: TestPod;
let kc: KubeConfig;

beforeAll(async () => {
  server = await startKubeApiServer();
  demo = server.addPod({ name: 'claudebox-demo-0', namespace: NS, labels: { 'rdev.io/project': 'demo' } });
  server.addPod({ name: 'unlabelled-0', namespace: NS });
  kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
});

afterAll(async () => {
  await server?.close();
});

describe('kubectl against the Kubernetes API test server', () => {
  it('lists pods by label as a table', async () => {
    const r = await runKubectl(server, ['get', 'pods', '-n', NS, '-l', 'rdev.io/project=demo']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const rows = r.stdout
      .trimEnd()
      .split('\n')
      .map((line) => line.split(/\s+/));
    expect(rows.map((cells) => cells.slice(0, 4))).toEqual([
      ['NAME', 'READY', 'STATUS', 'RESTARTS'],
      ['claudebox-demo-0', '1/1', 'Running', '0'],
    ]);
  });

  it('lists pods by label as JSON with their labels', async () => {
    const r = await runKubectl(server, ['get', 'pods', '-n', NS, '-l', 'rdev.io/project=demo', '-o', 'json']);
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as { items: V1Pod[] };
    expect(list.items.map((p) => [p.metadata?.name, p.metadata?.labels])).toEqual([['claudebox-demo-0', { 'rdev.io/project': 'demo' }]]);
  });

  it('execs with separate stdout and stderr and the exit code from the status channel', async () => {
    const r = await runKubectl(server, ['exec', '-n', NS, demo.name, '-c', 'claudebox', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\ncommand terminated with exit code 3\n' });
  });

  it('execs a command that succeeds', async () => {
    expect(await runKubectl(server, ['exec', '-n', NS, demo.name, '--', 'echo', 'ok'])).toEqual({ code: 0, stdout: 'ok\n', stderr: '' });
  });

  it('runs commands in /workspace, backed by the pod directory', async () => {
    writeFileSync(join(demo.dir, 'note.txt'), 'written by the test\n');
    const r = await runKubectl(server, ['exec', '-n', NS, demo.name, '--', 'sh', '-c', 'pwd; cat note.txt']);
    expect(r).toEqual({ code: 0, stdout: '/workspace\nwritten by the test\n', stderr: '' });
  });

  it('passes stdin with exec -i and closes it at EOF', async () => {
    const r = await runKubectl(server, ['exec', '-i', '-n', NS, demo.name, '--', 'cat'], { input: 'data' });
    expect(r).toEqual({ code: 0, stdout: 'data', stderr: '' });
  });

  it('answers 127 for a command that does not exist', async () => {
    expect(await runKubectl(server, ['exec', '-n', NS, demo.name, '--', 'no-such-command'])).toEqual({
      code: 127,
      stdout: '',
      stderr: 'exec: "no-such-command": executable file not found in $PATH\ncommand terminated with exit code 127\n',
    });
  });

  it('rejects an unknown container with 400 Bad Request', async () => {
    expect(await runKubectl(server, ['exec', '-n', NS, demo.name, '-c', 'nope', '--', 'true'])).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error from server (BadRequest): container nope is not valid for pod ${demo.name}\n`,
    });
  });

  it('rejects a wrong bearer token', async () => {
    const r = await runKubectl(server, ['--token=wrong', 'get', 'pods', '-n', NS]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: You must be logged in to the server (Unauthorized)');
  });
});

describe('@kubernetes/client-node against the Kubernetes API test server', () => {
  it('lists pods by label selector', async () => {
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS, labelSelector: 'rdev.io/project in (demo,other)' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['claudebox-demo-0']);
    expect(list.metadata?.resourceVersion).toBe(server.resourceVersion);
  });

  it('refuses a wrong token with 401', async () => {
    const bad = new KubeConfig();
    bad.loadFromString(server.kubeconfigYaml.replace(server.token, 'wrong'));
    const err: unknown = await bad
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: NS })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(401);
  });

  it('execs and reports a non-zero exit as a NonZeroExitCode status', async () => {
    const r = await clientExec(demo, ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(await r.closed).toBe(1000);
    expect({ stdout: r.stdout.text(), stderr: r.stderr.text(), status: r.status() }).toEqual({
      stdout: 'out\n',
      stderr: 'err\n',
      status: {
        metadata: {},
        status: 'Failure',
        message: 'command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      },
    });
  });

  it('refuses an exec into an unknown pod with 404 before the upgrade', async () => {
    const exec = new Exec(kc).exec(NS, 'missing-0', 'claudebox', ['true'], new PassThrough(), null, null, false);
    await expect(exec).rejects.toMatchObject({ message: 'Unexpected server response: 404' });
  });

  it('feeds stdin and ends it with a v5 CLOSE frame', async () => {
    const r = await clientExec(demo, ['cat'], Readable.from([Buffer.from('piped\n')]));
    expect(await r.closed).toBe(1000);
    expect({ protocol: r.ws.protocol, stdout: r.stdout.text(), status: r.status() }).toEqual({
      protocol: 'v5.channel.k8s.io',
      stdout: 'piped\n',
      status: { metadata: {}, status: 'Success' },
    });
  });

  it('watches pods by label: ADDED, MODIFIED, DELETED', async () => {
    const events = recorder<string>();
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'rdev.io/project=watched' },
      (type, pod: V1Pod) => events.push(`${type} ${pod.metadata?.name} ready=${readyOf(pod)}`),
      () => undefined,
    );
    server.addPod({ name: 'noise-0', namespace: NS });
    server.addPod({ name: 'watched-0', namespace: NS, labels: { 'rdev.io/project': 'watched' } });
    server.setReady(NS, 'watched-0', false);
    await server.deletePod(NS, 'watched-0');
    await events.waitFor((e) => e.length >= 3);
    controller.abort();
    expect(events.items).toEqual(['ADDED watched-0 ready=True', 'MODIFIED watched-0 ready=False', 'DELETED watched-0 ready=False']);
  });

  it('resumes a watch after a resourceVersion, and answers 410 Gone once it is compacted', async () => {
    const labelSelector = 'rdev.io/project=resumed';
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS, labelSelector });
    const resourceVersion = list.metadata?.resourceVersion ?? '';
    server.addPod({ name: 'resumed-0', namespace: NS, labels: { 'rdev.io/project': 'resumed' } });
    server.crashLoop(NS, 'resumed-0');
    const replayed = recorder<string>();
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector, resourceVersion },
      (type, pod: V1Pod) => replayed.push(`${type} ${pod.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? 'running'}`),
      () => undefined,
    );
    await replayed.waitFor((e) => e.length >= 2);
    controller.abort();
    expect(replayed.items).toEqual(['ADDED running', 'MODIFIED CrashLoopBackOff']);

    server.compactHistory();
    const gone = recorder<{ type: string; object: unknown }>();
    const ended = new Promise((resolve) => {
      void new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { resourceVersion }, (type, object) => gone.push({ type, object }), resolve);
    });
    expect(await ended).toBeNull();
    expect(gone.items).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: expect.stringMatching(/^too old resource version: /),
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
  });
});

describe('exec processes outlive their sockets, not their pod', () => {
  it('cutExecConnections ends the socket without a status; the process keeps running until deletePod', async () => {
    const pod = server.addPod({ name: 'cut-0', namespace: NS });
    const r = await clientExec(pod, ['sh', '-c', 'echo started; exec sleep 300']);
    await r.stdout.waitFor('started\n');
    server.cutExecConnections(NS, 'cut-0');
    expect(await r.closed).toBe(1006);
    expect(r.status()).toBeUndefined();
    expect(server.livePids(NS, 'cut-0')).toHaveLength(1);
    await server.deletePod(NS, 'cut-0');
    expect(server.livePids(NS, 'cut-0')).toEqual([]);
  });

  it('a socket closed by the client leaves the process (and its children) running, with stdin at EOF', async () => {
    const pod = server.addPod({ name: 'detached-0', namespace: NS });
    const script = 'sleep 300 & echo started; cat >/dev/null; echo eof > stdin-closed; wait';
    const r = await clientExec(pod, ['sh', '-c', script], new PassThrough());
    await r.stdout.waitFor('started\n');
    r.ws.close();
    await r.closed;
    // The file shows the server has seen the close; then both sh and its sleep must still live.
    await until(() => existsSync(join(pod.dir, 'stdin-closed')));
    expect(server.livePids(NS, 'detached-0')).toHaveLength(2);
    await server.deletePod(NS, 'detached-0');
    expect(server.livePids(NS, 'detached-0')).toEqual([]);
  });

  it('deletePod kills the process tree; the open exec ends with exit code 137', async () => {
    const pod = server.addPod({ name: 'doomed-0', namespace: NS });
    const r = await clientExec(pod, ['sh', '-c', 'sleep 300 & echo started; wait']);
    await r.stdout.waitFor('started\n');
    expect(server.livePids(NS, 'doomed-0')).toHaveLength(2);
    await server.deletePod(NS, 'doomed-0');
    expect(server.livePids(NS, 'doomed-0')).toEqual([]);
    expect(await r.closed).toBe(1000);
    expect(r.status()).toMatchObject({ reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '137' }] } });
  });

  it('restart drops watches and exec sockets, keeps pods and processes, and serves again on the same port', async () => {
    const pod = server.addPod({ name: 'survivor-0', namespace: NS, labels: { 'rdev.io/project': 'survivor' } });
    const watchEnded = new Promise((resolve) => {
      void new Watch(kc).watch(`/api/v1/namespaces/${NS}/pods`, { labelSelector: 'rdev.io/project=survivor' }, () => undefined, resolve);
    });
    const r = await clientExec(pod, ['sh', '-c', 'echo started; exec sleep 300']);
    await r.stdout.waitFor('started\n');
    const url = server.url;
    await server.restart();
    await watchEnded;
    expect(await r.closed).toBe(1006);
    expect(r.status()).toBeUndefined();
    expect(server.url).toBe(url);
    const list = await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: NS, labelSelector: 'rdev.io/project=survivor' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['survivor-0']);
    expect(server.livePids(NS, 'survivor-0')).toHaveLength(1);
    await server.deletePod(NS, 'survivor-0');
  });
});

/** Runs a command with client-node's Exec, collecting output, the status and the close code. */
async function clientExec(pod: TestPod, argv: string[], stdin: Readable | null = null) {
  const stdout = collector();
  const stderr = collector();
  let status: V1Status | undefined;
  const ws = await new Exec(kc).exec(pod.namespace, pod.name, 'claudebox', argv, stdout.stream, stderr.stream, stdin, false, (s) => {
    status = s;
  });
  const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
  return { ws, stdout, stderr, status: () => status, closed };
}

/** A writable that keeps what it is given and can wait until some text has arrived. */
function collector() {
  const stream = new PassThrough();
  const text = recorder<string>();
  stream.on('data', (chunk: Buffer) => text.push(chunk.toString()));
  return {
    stream,
    text: () => text.items.join(''),
    waitFor: (s: string) => text.waitFor((items) => items.join('').includes(s)),
  };
}

/** A list that can be awaited until a predicate over it holds (event-driven, with a deadline). */
function recorder<T>() {
  const items: T[] = [];
  const checks = new Set<() => void>();
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const check of checks) check();
    },
    waitFor(predicate: (items: T[]) => boolean, timeoutMs = 30_000): Promise<void> {
      if (predicate(items)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          checks.delete(check);
          reject(new Error(`timed out waiting; got ${JSON.stringify(items)}`));
        }, timeoutMs);
        const check = () => {
          if (!predicate(items)) return;
          clearTimeout(timer);
          checks.delete(check);
          resolve();
        };
        checks.add(check);
      });
    },
  };
}

/** Polls a condition that no event announces, until a deadline. */
async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met before the deadline');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function readyOf(pod: V1Pod): string | undefined {
  return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status;
}
