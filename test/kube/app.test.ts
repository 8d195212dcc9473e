// The whole app with RDEV_BACKEND=kube (createBackend → kube registry + executor) against the
// Kubernetes API test server: it starts while the API server is down, /ready says why, and once
// the server answers it lists the pod and runs a command in it.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api/index.js';
import { until } from './wait.js';

let kube: KubeApiServer;
let app: App;
let http: Server;
let url: string;
let dataDir: string;

beforeAll(async () => {
  kube = await startKubeApiServer();
  const pod = kube.addPod({ name: 'claudebox-demo-0', namespace: 'rdev', labels: { 'rdev.io/project': 'demo' } });
  await kube.stopListening();
  dataDir = mkdtempSync(join(tmpdir(), 'rdev-kube-app-'));
  const config = loadConfig({
    PORT: '0',
    RDEV_BACKEND: 'kube',
    KUBECONFIG: kube.kubeconfigPath,
    RDEV_DATA_DIR: dataDir,
    RDEV_LOG_LEVEL: 'silent',
    RDEV_SHUTDOWN_GRACE_SECONDS: '0',
    ...(kube.workspaceMounted ? {} : { RDEV_WORKSPACE: pod.dir }),
  });
  app = await createApp(config);
  http = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await new Promise((r) => http?.close(r));
  await kube?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function ready(): Promise<{ status: number; body: { error?: { code: string; message: string }; data?: unknown } }> {
  const res = await fetch(`${url}/ready`);
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } };
}

async function graphql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data as T;
}

/** Polls an async probe until it holds (the app answers over HTTP, so `until` cannot be used directly). */
async function eventually<T>(what: string, probe: () => Promise<T>, holds: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
  let last: T | undefined;
  let pending = false;
  await until(
    what,
    () => {
      if (!pending) {
        pending = true;
        void probe().then(
          (v) => ((last = v), (pending = false)),
          () => (pending = false),
        );
      }
      return last;
    },
    (v) => v !== undefined && holds(v),
    timeoutMs,
  );
  return last!;
}

describe('the app on the kube backend', () => {
  it('starts with the API server down: /ready answers 503 with the reason, and the app keeps retrying', async () => {
    const down = await eventually('/ready to name the failure', ready, (r) => /ECONNREFUSED/.test(r.body.error?.message ?? ''));
    expect({ status: down.status, code: down.body.error?.code, message: down.body.error?.message }).toEqual({
      status: 503,
      code: 'NOT_READY',
      message: expect.stringMatching(/^cannot list the pods of namespace rdev: .*ECONNREFUSED/),
    });
    await kube.listenAgain();
    const up = await eventually('/ready to answer 200', ready, (r) => r.status === 200);
    expect(up.body.data).toEqual({ status: 'ready' });
  });

  it('lists the pod as a project and runs a shell command in it', async () => {
    const { projects } = await graphql<{ projects: unknown[] }>('{ projects { id status statusMessage pod workspace } }');
    const workspace = kube.workspaceMounted ? '/workspace' : '/';
    expect(projects).toEqual([{ id: 'demo', status: 'READY', statusMessage: null, pod: 'claudebox-demo-0', workspace }]);
    const { runShell } = await graphql<{ runShell: { id: string } }>('mutation($input: RunShellInput!) { runShell(input: $input) { id } }', {
      input: { projectId: 'demo', command: 'echo "hello from $HOSTNAME"; exit 3' },
    });
    const query = 'query($id: ID!) { command(id: $id) { status exitCode error output { stream text } } }';
    type Cmd = { command: { status: string; exitCode: number | null; error: string | null; output: Array<{ stream: string; text: string }> } };
    const done = await eventually(
      'the command to finish',
      () => graphql<Cmd>(query, { id: runShell.id }),
      (d) => !['QUEUED', 'RUNNING'].includes(d.command.status),
    );
    expect(done.command).toEqual({
      status: 'FAILED',
      exitCode: 3,
      error: 'exited with code 3',
      output: [{ stream: 'STDOUT', text: 'hello from claudebox-demo-0\n' }],
    });
  });
});
