// The kube project registry through the real @kubernetes/client-node against the Kubernetes API
// test server: list by label, statuses, watch updates, deletions, API server restarts and readiness.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Project } from '../../src/projects/registry.js';
import { createKubeRegistry, type KubeRegistry } from '../../src/projects/kube.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api/index.js';
import { recorder, until } from './wait.js';

const LABEL = 'rdev.io/project';
let server: KubeApiServer;
let kc: KubeConfig;
const registries: KubeRegistry[] = [];
let namespaces = 0;

beforeAll(async () => {
  server = await startKubeApiServer();
  kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
});

afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
  await server.listenAgain(); // a failed test must not leave the next one without a server
});

afterAll(async () => {
  await server?.close();
});

/** A fresh namespace, so that each test sees only its own pods. */
function namespace(): string {
  return `reg-${++namespaces}`;
}

function registry(ns: string, watchTimeoutSeconds?: number): KubeRegistry {
  const r = createKubeRegistry({
    kubeConfig: kc,
    namespace: ns,
    projectLabel: LABEL,
    workspace: '/workspace',
    retryInitialMs: 20,
    retryMaxMs: 200,
    watchTimeoutSeconds,
  });
  registries.push(r);
  return r;
}

async function ready(r: KubeRegistry): Promise<void> {
  await until(
    'the registry to be ready',
    () => r.readiness(),
    (x) => x.ready,
  );
}

/** Changes seen by onChange, as "id STATUS message". */
function changes(r: KubeRegistry) {
  const seen = recorder<string>();
  r.onChange((p) => seen.push(`${p.id} ${p.status} ${p.statusMessage ?? '-'}`));
  return seen;
}

const project = (id: string, pod: string, over: Partial<Project> = {}): Project => ({
  id,
  pod,
  workspace: '/workspace',
  status: 'READY',
  statusMessage: null,
  ...over,
});

describe('kube registry: listing and statuses', () => {
  it('lists the pods that carry the label, named by its value; an unlabelled pod is not a project', async () => {
    const ns = namespace();
    server.addPod({ name: 'claudebox-beta-0', namespace: ns, labels: { [LABEL]: 'beta' } });
    server.addPod({ name: 'claudebox-alpha-0', namespace: ns, labels: { [LABEL]: 'alpha', app: 'claudebox' } });
    server.addPod({ name: 'postgres-0', namespace: ns, labels: { app: 'postgres' } });
    server.addPod({ name: 'elsewhere-0', namespace: `${ns}-other`, labels: { [LABEL]: 'elsewhere' } });
    const r = registry(ns);
    await ready(r);
    expect(r.list()).toEqual([project('alpha', 'claudebox-alpha-0'), project('beta', 'claudebox-beta-0')]);
    expect([r.get('beta'), r.get('postgres'), r.get('elsewhere')]).toEqual([project('beta', 'claudebox-beta-0'), undefined, undefined]);
  });

  it('reports STARTING, NOT_READY and CrashLoopBackOff with their messages', async () => {
    const ns = namespace();
    server.addPod({ name: 'starting-0', namespace: ns, labels: { [LABEL]: 'starting' }, phase: 'Pending' });
    server.addPod({ name: 'unready-0', namespace: ns, labels: { [LABEL]: 'unready' }, ready: false });
    const crashing = server.addPod({ name: 'crashing-0', namespace: ns, labels: { [LABEL]: 'crashing' } });
    server.crashLoop(ns, 'crashing-0');
    const r = registry(ns);
    await ready(r);
    expect(r.list()).toEqual([
      project('crashing', 'crashing-0', {
        status: 'NOT_READY',
        statusMessage:
          `container claudebox is waiting: CrashLoopBackOff (back-off 10s restarting failed container=claudebox ` + `pod=crashing-0_${ns}(${crashing.uid}))`,
      }),
      project('starting', 'starting-0', { status: 'STARTING', statusMessage: 'container claudebox is waiting: ContainerCreating' }),
      project('unready', 'unready-0', {
        status: 'NOT_READY',
        statusMessage: 'pod unready-0 is not ready: ContainersNotReady (containers with unready status: [claudebox])',
      }),
    ]);
  });
});

describe('kube registry: watching', () => {
  it('calls onChange once per status change: unready, then ready again', async () => {
    const ns = namespace();
    server.addPod({ name: 'flappy-0', namespace: ns, labels: { [LABEL]: 'flappy' } });
    const r = registry(ns);
    await ready(r);
    const seen = changes(r);
    server.setReady(ns, 'flappy-0', false);
    await seen.waitFor('the unready change', (s) => s.length >= 1);
    server.setReady(ns, 'flappy-0', true);
    await seen.waitFor('the ready change', (s) => s.length >= 2);
    expect(seen.items).toEqual([
      'flappy NOT_READY pod flappy-0 is not ready: ContainersNotReady (containers with unready status: [claudebox])',
      'flappy READY -',
    ]);
    expect(r.get('flappy')).toEqual(project('flappy', 'flappy-0'));
  });

  it('sees a pod added later, and not a change that leaves the status as it was', async () => {
    const ns = namespace();
    const r = registry(ns);
    await ready(r);
    const seen = changes(r);
    server.addPod({ name: 'late-0', namespace: ns, labels: { [LABEL]: 'late' }, phase: 'Pending' });
    server.setReady(ns, 'late-0', true); // still Pending: same status, same message
    server.setPhase(ns, 'late-0', 'Running');
    await seen.waitFor('two changes', (s) => s.length >= 2);
    expect(seen.items).toEqual(['late STARTING container claudebox is waiting: ContainerCreating', 'late READY -']);
  });

  it('announces a deleted pod as MISSING once, tells the executor hook, then forgets the project', async () => {
    const ns = namespace();
    server.addPod({ name: 'doomed-0', namespace: ns, labels: { [LABEL]: 'doomed' } });
    server.addPod({ name: 'kept-0', namespace: ns, labels: { [LABEL]: 'kept' } });
    const r = registry(ns);
    await ready(r);
    const seen = changes(r);
    const gone = recorder<string>();
    r.onPodGone('doomed-0', (reason) => gone.push(reason));
    r.onPodGone('kept-0', (reason) => gone.push(`kept: ${reason}`));
    await server.deletePod(ns, 'doomed-0');
    await seen.waitFor('the deletion', (s) => s.length >= 1);
    expect({ changes: seen.items, gone: gone.items, list: r.list(), get: r.get('doomed') }).toEqual({
      changes: ['doomed MISSING pod doomed-0 was deleted'],
      gone: ['pod doomed-0 was deleted'],
      list: [project('kept', 'kept-0')],
      get: undefined,
    });
  });
});

describe('kube registry: the API server goes away', () => {
  it('is not ready before the first list, nor while the server is stopped; ready again after it listens', async () => {
    const ns = namespace();
    server.addPod({ name: 'first-0', namespace: ns, labels: { [LABEL]: 'first' } });
    await server.stopListening();
    const r = registry(ns);
    expect(r.readiness()).toEqual({ ready: false, reason: `listing the pods of namespace ${ns}` });
    const down = await until(
      'a failed list',
      () => r.readiness(),
      (x) => /ECONNREFUSED/.test(x.reason ?? ''),
    );
    expect(down).toEqual({ ready: false, reason: expect.stringMatching(new RegExp(`^cannot list the pods of namespace ${ns}: .*ECONNREFUSED`)) });
    expect(r.list()).toEqual([]);
    await server.listenAgain();
    await ready(r);
    expect(r.list()).toEqual([project('first', 'first-0')]);

    await server.stopListening();
    // The first failure may be the watch's (cut before it was up), then the lists' while nobody listens.
    const again = await until(
      'readiness to drop',
      () => r.readiness(),
      (x) => /ECONNREFUSED/.test(x.reason ?? ''),
    );
    expect(again).toEqual({ ready: false, reason: expect.stringMatching(new RegExp(`^cannot (list|watch) the pods of namespace ${ns}: .*ECONNREFUSED`)) });
    await server.listenAgain();
    await ready(r);
  });

  it('re-lists or re-watches after a restart and sees what changed while the server was down', async () => {
    const ns = namespace();
    server.addPod({ name: 'old-0', namespace: ns, labels: { [LABEL]: 'old' } });
    const r = registry(ns);
    await ready(r);
    await until('the watch', () => server.requests.filter((q) => q.query.includes('watch=true') && q.path.includes(`/${ns}/`)).length);
    const seen = changes(r);
    await server.stopListening();
    server.addPod({ name: 'new-0', namespace: ns, labels: { [LABEL]: 'new' } });
    server.setReady(ns, 'old-0', false);
    await server.listenAgain();
    await seen.waitFor('both changes', (s) => s.length >= 2);
    expect([...seen.items].sort()).toEqual([
      'new READY -',
      'old NOT_READY pod old-0 is not ready: ContainersNotReady (containers with unready status: [claudebox])',
    ]);
    await ready(r);
    // And a plain restart() while watching: a pod added right after it is seen too.
    await server.restart();
    server.addPod({ name: 'newer-0', namespace: ns, labels: { [LABEL]: 'newer' } });
    await seen.waitFor('the pod added after the restart', (s) => s.includes('newer READY -'));
    expect(r.list().map((p) => p.id)).toEqual(['new', 'newer', 'old']);
  });

  it('re-lists when the watch answers 410 Gone for an expired resourceVersion', async () => {
    const ns = namespace();
    server.addPod({ name: 'kept-0', namespace: ns, labels: { [LABEL]: 'kept' } });
    const r = registry(ns);
    await ready(r);
    const ours = () =>
      server.requests.filter((q) => q.path === `/api/v1/namespaces/${ns}/pods`).map((q) => (q.query.includes('watch=true') ? 'watch' : 'list'));
    await until('the first watch', ours, (x) => x.includes('watch'));
    // A change the registry does not see (no label) moves the server on; compaction then expires our version.
    server.addPod({ name: 'noise-0', namespace: ns });
    server.compactHistory();
    await server.restart();
    await until('a list after the expired watch', ours, (x) => x.join(',').startsWith('list,watch,watch,list'));
    server.addPod({ name: 'after-0', namespace: ns, labels: { [LABEL]: 'after' } });
    await until(
      'the pod added after the re-list',
      () => r.list().map((p) => p.id),
      (ids) => ids.includes('after'),
    );
    expect(r.readiness()).toEqual({ ready: true, reason: null });
  });

  it('resumes a watch the server ended (timeoutSeconds) from its resourceVersion, without listing again', async () => {
    const ns = namespace();
    const r = registry(ns, 1);
    await ready(r);
    const ours = () => server.requests.filter((q) => q.path === `/api/v1/namespaces/${ns}/pods`);
    await until(
      'a resumed watch',
      () => ours().filter((q) => q.query.includes('watch=true')).length,
      (n) => n >= 2,
      5000,
    );
    server.addPod({ name: 'seen-0', namespace: ns, labels: { [LABEL]: 'seen' } });
    await until('the pod', () => r.get('seen'));
    expect(ours().filter((q) => !q.query.includes('watch=true'))).toHaveLength(1);
    expect(ours()[1]?.query).toMatch(/resourceVersion=\d+/);
  });

  it('stops watching on close(): after a restart only a live registry comes back', async () => {
    const [closedNs, liveNs] = [namespace(), namespace()];
    const closed = registry(closedNs);
    const live = registry(liveNs);
    await Promise.all([ready(closed), ready(live)]);
    const watches = (ns: string) => server.requests.filter((q) => q.path === `/api/v1/namespaces/${ns}/pods` && q.query.includes('watch=true')).length;
    await until(
      'both watches',
      () => [watches(closedNs), watches(liveNs)],
      ([a, b]) => a === 1 && b === 1,
    );
    await closed.close();
    await server.restart();
    server.addPod({ name: 'seen-0', namespace: liveNs, labels: { [LABEL]: 'seen' } });
    server.addPod({ name: 'unseen-0', namespace: closedNs, labels: { [LABEL]: 'unseen' } });
    // The live registry, with the same retry settings, has reconnected and caught up by now.
    await until('the live registry to catch up', () => live.get('seen'));
    expect({ closedWatches: watches(closedNs), unseen: closed.get('unseen'), liveWatches: watches(liveNs) }).toEqual({
      closedWatches: 1,
      unseen: undefined,
      liveWatches: 2,
    });
  });
});
