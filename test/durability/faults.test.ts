// The whole app on RDEV_BACKEND=kube against the Kubernetes API test server, through faults of
// the cluster: the API server restarts under the registry's watch (and under a running command),
// an exec connection is cut mid-run, a pod is deleted mid-run, a command's supervisor is killed.
// A cut connection is re-attached (the command stays RUNNING and ends with all its output); only
// what is really gone ends LOST with the reason (never hang, never SUCCEEDED); the registry
// catches up with what changed while it was blind; and a prober shows that the app answered
// `/health` and queries all along.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api/index.js';
import { COMMAND_FIELDS, gqlData, runShell, waitFinal } from '../api/client.js';
import { pollUntil } from './server-process.js';

const NS = 'rdev';
const LABEL = 'rdev.io/project';

let kube: KubeApiServer;
let app: App;
let http: Server;
let url: string;
let dataDir: string;
let spoolDir: string;
let prober: Prober;

/** A counter: `n 1` … `n <count>`, one line every 50 ms. */
const counter = (count: number): string => `i=0; while [ $i -lt ${count} ]; do i=$((i+1)); echo "n $i"; sleep 0.05; done`;
const counterText = (count: number): string => Array.from({ length: count }, (_, i) => `n ${i + 1}\n`).join('');

/** One failed probe: what was asked, what came back, when (ms since the prober started). */
interface ProbeFailure {
  probe: string;
  got: string;
  atMs: number;
}

/**
 * How long a probe may take before it counts as unanswered. A hang, not slowness: far above what a
 * busy 2-core machine takes (a probe answers in milliseconds), so only an app that stops answering fails.
 */
const PROBE_TIMEOUT_MS = 15_000;

/** Asks `/health` and a GraphQL query every ~50 ms and records every answer that is not a success. */
interface Prober {
  count: number;
  failures: ProbeFailure[];
  stop(): Promise<void>;
}

function startProber(base: string): Prober {
  const started = Date.now();
  const state: Prober = { count: 0, failures: [], stop: async () => {} };
  let running = true;
  const ask = async (probe: string, fn: () => Promise<string | null>): Promise<void> => {
    try {
      const failure = await fn();
      if (failure) state.failures.push({ probe, got: failure, atMs: Date.now() - started });
    } catch (err) {
      state.failures.push({ probe, got: String(err), atMs: Date.now() - started });
    }
  };
  const loop = (async () => {
    while (running) {
      await Promise.all([
        ask('/health', async () => {
          const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
          return res.status === 200 ? null : `HTTP ${res.status}`;
        }),
        ask('query', async () => {
          const res = await fetch(`${base}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ projects { id status } commands(first: 5) { edges { node { id status } } } }' }),
            signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
          });
          const body = (await res.json()) as { data?: unknown; errors?: unknown };
          return res.status === 200 && body.data && !body.errors ? null : `HTTP ${res.status} ${JSON.stringify(body)}`;
        }),
      ]);
      state.count++;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  state.stop = async () => {
    running = false;
    await loop;
  };
  return state;
}

/** Runs `body` and checks that the prober saw only successes meanwhile (and did probe). */
async function answeringThroughout(body: () => Promise<void>): Promise<void> {
  const count = prober.count;
  const failures = prober.failures.length;
  await body();
  // Two rounds that began after the body: each ends with an answer or a timeout counted as a failure.
  await pollUntil(
    'two more probe rounds',
    () => prober.count,
    (n) => n > count + 1,
    3 * PROBE_TIMEOUT_MS,
  );
  expect(prober.failures.slice(failures)).toEqual([]);
}

async function ready(): Promise<number> {
  return (await fetch(`${url}/ready`)).status;
}

async function project(id: string): Promise<{ id: string; status: string; pod: string | null } | null> {
  return (
    await gqlData<{ project: { id: string; status: string; pod: string | null } | null }>(url, 'query($id: ID!) { project(id: $id) { id status pod } }', { id })
  ).project;
}

async function command(id: string): Promise<Record<string, any>> {
  return (await gqlData<{ command: Record<string, any> }>(url, `query($id: ID!) { command(id: $id) { ${COMMAND_FIELDS} output { text } } }`, { id })).command;
}

/** Adds a pod for project `id` and waits until the app can run commands in it. */
async function addProject(id: string): Promise<string> {
  const name = `claudebox-${id}-0`;
  kube.addPod({ name, namespace: NS, labels: { [LABEL]: id } });
  await pollUntil(
    `project ${id} to be READY`,
    () => project(id),
    (p) => p?.status === 'READY',
    10_000,
  );
  return name;
}

/** Starts a command that prints "started" and then waits, and resolves once it has printed. */
async function startLongCommand(projectId: string, marker: string): Promise<string> {
  const id = await runShell(url, projectId, `sleep ${marker} & echo started; wait`);
  await pollUntil(
    `${id} to print`,
    () => command(id),
    (c) => c.output.some((o: { text: string }) => o.text.includes('started')),
    10_000,
  );
  return id;
}

beforeAll(async () => {
  kube = await startKubeApiServer();
  const pod = kube.addPod({ name: 'claudebox-alpha-0', namespace: NS, labels: { [LABEL]: 'alpha' } });
  dataDir = mkdtempSync(path.join(tmpdir(), 'rdev-faults-'));
  spoolDir = path.join(dataDir, 'spool');
  app = await createApp(
    loadConfig({
      PORT: '0',
      RDEV_BACKEND: 'kube',
      KUBECONFIG: kube.kubeconfigPath,
      RDEV_DATA_DIR: dataDir,
      RDEV_LOG_LEVEL: 'silent',
      RDEV_SHUTDOWN_GRACE_SECONDS: '0',
      RDEV_ON_SHUTDOWN: 'stop',
      RDEV_SPOOL_DIR: spoolDir,
      ...(kube.workspaceMounted ? {} : { RDEV_WORKSPACE: pod.dir }),
    }),
  );
  http = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  await pollUntil('/ready', ready, (s) => s === 200, 10_000);
  prober = startProber(url);
});

afterAll(async () => {
  // Each test checked the probes of its own fault (answeringThroughout); this is the tally.
  if (prober) console.log(`faults: ${prober.count} probe rounds (/health + a query each), ${prober.failures.length} failures`);
  await prober?.stop();
  await app?.close();
  http?.closeAllConnections();
  await new Promise((r) => http?.close(r));
  await kube?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the kube backend through cluster faults', () => {
  it('re-lists and re-watches after the API server restarts: a pod added while it was down shows up, /ready is 200 again', async () => {
    await answeringThroughout(async () => {
      await kube.stopListening();
      await pollUntil('/ready to report the API server gone', ready, (s) => s === 503, 10_000);
      // Changes made while the app cannot see them.
      kube.addPod({ name: 'claudebox-late-0', namespace: NS, labels: { [LABEL]: 'late' } });
      kube.setReady(NS, 'claudebox-alpha-0', false, 'ContainersNotReady');
      expect(await project('late')).toBeNull();
      await kube.listenAgain();
      await pollUntil('/ready to be 200', ready, (s) => s === 200, 15_000);
      await pollUntil(
        'the late pod to be a project',
        () => project('late'),
        (p) => p?.status === 'READY',
        10_000,
      );
      expect(await project('alpha')).toEqual({ id: 'alpha', status: 'NOT_READY', pod: 'claudebox-alpha-0' });
      kube.setReady(NS, 'claudebox-alpha-0', true);
      await pollUntil(
        'alpha to be READY again',
        () => project('alpha'),
        (p) => p?.status === 'READY',
        10_000,
      );
      // The watch is live again: a change made now arrives without another restart.
      kube.setPhase(NS, 'claudebox-late-0', 'Pending');
      await pollUntil(
        'the watch to carry a new change',
        () => project('late'),
        (p) => p?.status === 'STARTING',
        10_000,
      );
      kube.setPhase(NS, 'claudebox-late-0', 'Running');
      await pollUntil(
        'late to be READY again',
        () => project('late'),
        (p) => p?.status === 'READY',
        10_000,
      );
      const id = await runShell(url, 'late', 'echo "after the restart"');
      expect(await waitFinal(url, id)).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    });
  });

  it('a cut exec connection is re-attached: the command stays RUNNING and ends SUCCEEDED with every line once', async () => {
    await answeringThroughout(async () => {
      const pod = await addProject('cut');
      const id = await runShell(url, 'cut', counter(60));
      await pollUntil(
        `${id} to print`,
        () => command(id),
        (c) => c.output.length > 0,
        10_000,
      );
      const cutAt = Date.now();
      kube.cutExecConnections(NS, pod);
      // It goes on printing, and is RUNNING meanwhile.
      const during = await pollUntil(
        'output after the cut',
        () => command(id),
        (c) =>
          c.output
            .map((o: { text: string }) => o.text)
            .join('')
            .includes('n 40\n') || c.status !== 'RUNNING',
        20_000,
      );
      expect(during.status).toBe('RUNNING');
      await waitFinal(url, id, 30_000);
      const final = await command(id);
      expect({ status: final.status, exitCode: final.exitCode, error: final.error }).toEqual({ status: 'SUCCEEDED', exitCode: 0, error: null });
      expect(final.output.map((o: { text: string }) => o.text).join('')).toBe(counterText(60));
      console.log(`faults: exec cut → re-attached, SUCCEEDED ${Date.now() - cutAt} ms after the cut`);
    });
  });

  it("a command's supervisor killed in the pod ends it LOST with a reason naming the missing exit record", async () => {
    await answeringThroughout(async () => {
      await addProject('oom');
      const id = await startLongCommand('oom', '301.35');
      const supervisor = Number(readFileSync(path.join(spoolDir, id, 'supervisor'), 'utf8'));
      const pgid = Number(readFileSync(path.join(spoolDir, id, 'pgid'), 'utf8'));
      process.kill(supervisor, 'SIGKILL');
      const final = await waitFinal(url, id, 30_000);
      expect({ status: final.status, exitCode: final.exitCode }).toEqual({ status: 'LOST', exitCode: null });
      expect(final.error).toMatch(/^the supervisor died without an exit record/);
      process.kill(-pgid, 'SIGKILL'); // the orphaned command, as an OOM kill of the whole pod would
    });
  });

  it('a pod deleted mid-run ends the command LOST with a reason naming the pod (seen by the watch, not after the re-attach window)', async () => {
    await answeringThroughout(async () => {
      const pod = await addProject('doomed');
      const id = await startLongCommand('doomed', '301.5');
      const deletedAt = Date.now();
      await kube.deletePod(NS, pod);
      const final = await waitFinal(url, id, 60_000);
      const tookMs = Date.now() - deletedAt;
      // Had the deletion gone unseen, it would be LOST after RDEV_REATTACH_SECONDS (120) with "could not re-attach".
      expect(final).toMatchObject({ status: 'LOST', exitCode: null, error: `pod ${pod} was deleted` });
      await pollUntil(
        'the project to be gone',
        () => project('doomed'),
        (p) => p === null,
        10_000,
      );
      console.log(`faults: pod deleted → LOST after ${tookMs} ms`);
    });
  });

  it('a command running while the API server restarts stays RUNNING, is re-attached once it is back, and ends SUCCEEDED with every line once', async () => {
    await answeringThroughout(async () => {
      await addProject('bystander');
      const id = await runShell(url, 'bystander', counter(80));
      await pollUntil(
        `${id} to print`,
        () => command(id),
        (c) => c.output.length > 0,
        10_000,
      );
      await kube.stopListening(); // cuts the exec socket and the watch
      expect((await command(id)).status).toBe('RUNNING');
      await kube.listenAgain();
      await pollUntil('/ready to be 200', ready, (s) => s === 200, 15_000);
      await waitFinal(url, id, 60_000);
      const final = await command(id);
      expect({ status: final.status, exitCode: final.exitCode, error: final.error }).toEqual({ status: 'SUCCEEDED', exitCode: 0, error: null });
      expect(final.output.map((o: { text: string }) => o.text).join('')).toBe(counterText(80));
      const next = await runShell(url, 'bystander', 'echo back');
      expect(await waitFinal(url, next)).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    });
  });
});
