/**
 * An in-process fake of the Kubernetes API server for tests: HTTPS with a throwaway CA, bearer
 * token auth, discovery, pods get/list/watch/delete, and `pods/exec` over WebSocket running
 * real processes in per-pod directories mounted at /workspace.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { handleApiRequest, type ApiContext } from './api-routes.js';
import { EXEC_PROTOCOLS } from './exec-session.js';
import { handleExecUpgrade, type ExecContext, type PodRuntime } from './exec-upgrade.js';
import { renderKubeconfig } from './kubeconfig.js';
import type { PodState } from './pod-object.js';
import { killOnExit, killPodProcesses, podPids, podSandbox } from './pod-processes.js';
import { PodStore } from './pod-store.js';
import { failureStatus, rejectUpgrade, sendStatus } from './status.js';
import { testCertificate } from './tls.js';
import type { KubeApiServer, KubeApiServerOptions, RequestLogEntry, TestPodSpec } from './types.js';

/**
 * Starts a Kubernetes API test server on `https://127.0.0.1:<port>` and writes a kubeconfig for
 * it. Every server must be `close()`d (in `afterAll`): that kills the pods' processes and removes
 * the temp dirs.
 */
export async function startKubeApiServer(opts: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const token = opts.token ?? randomBytes(16).toString('hex');
  const host = '127.0.0.1';
  const root = await mkdtemp(join(tmpdir(), 'kube-api-'));
  const cert = await testCertificate();
  const sandbox = podSandbox();
  const store = new PodStore(opts.historyLimit ?? 1000);
  // Kept after a pod is deleted, so livePids can prove its processes are gone.
  const runtimes = new Map<string, PodRuntime & { spec: TestPodSpec; namespace: string; name: string; forgetOnExit: () => void }>();
  const runtimesOf = (namespace?: string, name?: string) =>
    [...runtimes.entries()].filter(([, rt]) => (namespace === undefined || rt.namespace === namespace) && (name === undefined || rt.name === name));
  const requests: RequestLogEntry[] = [];
  const sockets = new Set<Socket>();
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });
  let port = opts.port ?? 0;

  const authorized = (auth: string | undefined) => auth === `Bearer ${token}`;
  const parseUrl = (raw: string | undefined) => new URL(raw ?? '/', `https://${host}`);
  const log = (method: string | undefined, url: URL, upgrade: boolean) =>
    requests.push({ method: method ?? 'GET', path: url.pathname, query: url.search, upgrade });

  const deletePod = async (namespace: string, name: string): Promise<void> => {
    const pod = store.remove(namespace, name);
    const rt = pod && runtimes.get(pod.uid);
    if (!pod || !rt) return;
    await killPodProcesses(pod.uid);
    // The killed processes close their streams and report 137; cut whatever is still open.
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise((r) => (timer = setTimeout(r, 5_000)));
    await Promise.race([Promise.all([...rt.sessions].map((s) => s.exited)), grace]);
    clearTimeout(timer);
    for (const s of rt.sessions) s.cut();
  };

  const api: ApiContext = {
    store,
    get serverAddress() {
      return `${host}:${port}`;
    },
    deletePod: (ns, name) => void deletePod(ns, name),
    podLog: (pod) => runtimes.get(pod.uid)?.spec.log ?? '',
  };
  const exec: ExecContext = { store, wss, sandbox, runtime: (pod) => runtimes.get(pod.uid) };

  const server: Server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
    const url = parseUrl(req.url);
    log(req.method, url, false);
    if (!authorized(req.headers.authorization)) return sendStatus(res, failureStatus(401, 'Unauthorized'));
    try {
      handleApiRequest(api, req, res, url);
    } catch (err) {
      sendStatus(res, failureStatus(500, String(err)));
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket, head: Buffer) => {
    // Node's HTTP server stops watching an upgraded socket's errors; a reset must not crash the tests.
    socket.on('error', () => undefined);
    const url = parseUrl(req.url);
    log(req.method, url, true);
    if (!authorized(req.headers.authorization)) return rejectUpgrade(socket, failureStatus(401, 'Unauthorized'));
    try {
      handleExecUpgrade(exec, req, socket, head, url);
    } catch (err) {
      rejectUpgrade(socket, failureStatus(500, String(err)));
    }
  });

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      if (server.listening) return resolve();
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const addr = server.address();
        if (addr && typeof addr === 'object') port = addr.port;
        resolve();
      });
    });
  const stopListening = async () => {
    if (!server.listening) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of sockets) s.destroy();
    await closed;
  };

  await listen();
  const url = `https://${host}:${port}`;
  const kubeconfigYaml = renderKubeconfig({ server: url, caPem: cert.certPem, token, ...(opts.namespace ? { namespace: opts.namespace } : {}) });
  const kubeconfigPath = join(root, 'kubeconfig.yaml');
  await writeFile(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });

  const mustGet = (namespace: string, name: string) => {
    if (!store.get(namespace, name)) throw new Error(`no pod ${namespace}/${name}`);
  };
  const update = (namespace: string, name: string, mutate: (p: PodState) => void) => {
    mustGet(namespace, name);
    store.update(namespace, name, mutate);
  };

  return {
    url,
    token,
    kubeconfigPath,
    kubeconfigYaml,
    requests,
    workspaceMounted: sandbox.mountsWorkspace,
    addPod(spec) {
      const namespace = spec.namespace ?? 'default';
      const uid = randomUUID();
      const base = join(root, 'pods', `${namespace}_${spec.name}_${uid.slice(0, 8)}`);
      const workspaceDir = join(base, 'workspace');
      const homeDir = join(base, 'home');
      mkdirSync(workspaceDir, { recursive: true });
      mkdirSync(homeDir, { recursive: true });
      store.create({
        name: spec.name,
        namespace,
        uid,
        labels: { ...spec.labels },
        annotations: { ...spec.annotations },
        containers: spec.containers?.length ? [...spec.containers] : ['claudebox'],
        env: { ...spec.env },
        createdAt: new Date(),
        resourceVersion: 0,
        phase: spec.phase ?? 'Running',
        ready: spec.ready ?? true,
        restartCount: 0,
        podIP: store.allocateIp(),
      });
      runtimes.set(uid, { workspaceDir, homeDir, sessions: new Set(), spec, namespace, name: spec.name, forgetOnExit: killOnExit(uid) });
      return { namespace, name: spec.name, uid, dir: workspaceDir, homeDir };
    },
    setReady(namespace, name, ready, reason) {
      update(namespace, name, (p) => {
        p.ready = ready;
        p.notReadyReason = reason;
      });
    },
    setPhase(namespace, name, phase) {
      update(namespace, name, (p) => {
        p.phase = phase;
        p.waiting = undefined;
      });
    },
    setWaiting(namespace, name, reason, message) {
      update(namespace, name, (p) => {
        p.waiting = reason === undefined ? undefined : { reason, ...(message ? { message } : {}) };
      });
    },
    crashLoop(namespace, name) {
      update(namespace, name, (p) => {
        p.phase = 'Running';
        p.restartCount += 1;
        const container = p.containers[0] ?? '';
        p.waiting = {
          reason: 'CrashLoopBackOff',
          message: `back-off 10s restarting failed container=${container} pod=${p.name}_${p.namespace}(${p.uid})`,
        };
      });
    },
    deletePod,
    cutExecConnections(namespace, name) {
      for (const [, rt] of runtimesOf(namespace, name)) for (const s of rt.sessions) s.cut();
    },
    livePids(namespace, name) {
      return runtimesOf(namespace, name).flatMap(([uid]) => podPids(uid));
    },
    compactHistory: () => store.compact(),
    get resourceVersion() {
      return String(store.resourceVersion);
    },
    stopListening,
    listenAgain: listen,
    async restart() {
      await stopListening();
      await listen();
    },
    async close() {
      await stopListening();
      await Promise.all([...runtimes.keys()].map((uid) => killPodProcesses(uid)));
      for (const rt of runtimes.values()) rt.forgetOnExit();
      wss.close();
      await rm(root, { recursive: true, force: true });
    },
  } satisfies KubeApiServer;
}
