import { CoreV1Api, Watch, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { withTimeout } from '../exec/deadline.js';
import type { PodGoneSource } from '../exec/kube.js';
import type { Logger } from '../logger.js';
import { podStatus, type PodLike } from './pod-status.js';
import type { Project, ProjectRegistry, Readiness } from './registry.js';

/** Options of {@link createKubeRegistry}. */
export interface KubeRegistryOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the claudebox pods. */
  namespace: string;
  /** Label key: a pod carrying it is the project named by its value. */
  projectLabel: string;
  /** Working directory of every project (inside its pod). */
  workspace: string;
  logger?: Logger;
  /**
   * First delay before re-listing after a failure; it doubles up to `retryMaxMs`.
   * @default 250
   */
  retryInitialMs?: number;
  /** @default 5000 */
  retryMaxMs?: number;
  /**
   * Asks the server to end each watch after this long (it is then resumed): a bound on a watch
   * that went silently dead.
   * @default 300
   */
  watchTimeoutSeconds?: number;
  /**
   * Bound on one list request.
   * @default 30000
   */
  listTimeoutMs?: number;
}

/** The kube registry: projects, plus pod deletions for the executor. */
export interface KubeRegistry extends ProjectRegistry, PodGoneSource {}

/** A watch event's object: raw JSON, read through the same fields as a listed pod. */
type PodObject = PodLike & {
  metadata?: {
    name?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    deletionTimestamp?: unknown;
    creationTimestamp?: unknown;
  };
};

interface PodEntry {
  uid: string;
  projectId: string;
  project: Project;
  terminating: boolean;
}

/**
 * Projects are the pods of `namespace` that carry `projectLabel` (the project id is its value).
 * Lists them, then watches from the list's resourceVersion; a watch that ends is resumed from the
 * last resourceVersion, and one that fails (or answers 410 Gone) leads to a new list, retried with
 * backoff. Not ready until the first list succeeded, nor while the API server cannot be reached.
 * A deleted pod's project is announced once as MISSING to `onChange` listeners, then is gone from
 * `list()` and `get()`.
 *
 * @see https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes
 */
export function createKubeRegistry(o: KubeRegistryOptions): KubeRegistry {
  const api = o.kubeConfig.makeApiClient(CoreV1Api);
  const watcher = new Watch(o.kubeConfig);
  const retryInitialMs = o.retryInitialMs ?? 250;
  const retryMaxMs = o.retryMaxMs ?? 5000;
  const listTimeoutMs = o.listTimeoutMs ?? 30_000;
  const path = `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/pods`;
  const pods = new Map<string, PodEntry>(); // by pod name
  const changeListeners = new Set<(project: Project) => void>();
  const goneListeners = new Map<string, Set<(reason: string) => void>>();
  let projects = new Map<string, Project>();
  let readiness: Readiness = { ready: false, reason: `listing the pods of namespace ${o.namespace}` };
  let resourceVersion: string | undefined;
  let controller: AbortController | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = retryInitialMs;
  let generation = 0; // a new list makes every older watch's callbacks stale
  let closed = false;

  const emit = (project: Project): void => {
    for (const listener of changeListeners) {
      try {
        listener(project);
      } catch (err) {
        o.logger?.error('project change listener failed', { err: String(err) });
      }
    }
  };

  const podGone = (name: string, reason: string): void => {
    for (const listener of [...(goneListeners.get(name) ?? [])]) {
      try {
        listener(reason);
      } catch (err) {
        o.logger?.error('pod gone listener failed', { pod: name, err: String(err) });
      }
    }
  };

  /** Rebuilds the projects from the pods and tells listeners what changed. */
  const publish = (why: Map<string, string>): void => {
    const next = new Map<string, Project>();
    // Two pods with one project id (a rollout): prefer the one that can run commands.
    const rank = { READY: 0, STARTING: 1, NOT_READY: 2, MISSING: 3 } as const;
    for (const entry of [...pods.values()].sort((a, b) => (a.project.pod ?? '').localeCompare(b.project.pod ?? ''))) {
      const other = next.get(entry.projectId);
      if (!other || rank[entry.project.status] < rank[other.status]) next.set(entry.projectId, entry.project);
    }
    const before = projects;
    projects = next;
    for (const [id, project] of next) {
      const old = before.get(id);
      if (!old || old.status !== project.status || old.statusMessage !== project.statusMessage || old.pod !== project.pod) emit(project);
    }
    for (const [id, old] of before) {
      if (!next.has(id)) emit({ ...old, status: 'MISSING', statusMessage: why.get(old.pod ?? '') ?? `no pod carries ${o.projectLabel}=${id} any more` });
    }
  };

  /** Records a pod's new state (ADDED/MODIFIED or listed); `gone` collects why pods went away. */
  const upsert = (pod: PodObject, gone: Map<string, string>): void => {
    const name = pod.metadata?.name;
    const projectId = pod.metadata?.labels?.[o.projectLabel];
    if (!name) return;
    if (!projectId) return remove(name, `pod ${name} no longer carries the label ${o.projectLabel}`, gone);
    const uid = pod.metadata?.uid ?? '';
    const prev = pods.get(name);
    if (prev && prev.uid !== uid) podGone(name, `pod ${name} was deleted and replaced`);
    const terminating = Boolean(pod.metadata?.deletionTimestamp);
    if (terminating && !(prev && prev.uid === uid && prev.terminating)) podGone(name, `pod ${name} is being deleted`);
    pods.set(name, { uid, projectId, terminating, project: { id: projectId, pod: name, workspace: o.workspace, ...podStatus(pod) } });
  };

  const remove = (name: string, reason: string, gone: Map<string, string>): void => {
    if (!pods.delete(name)) return;
    gone.set(name, reason);
    podGone(name, reason);
  };

  const setReadiness = (ready: boolean, reason: string | null): void => {
    if (readiness.ready === ready && readiness.reason === reason) return;
    if (ready) o.logger?.info('kube registry ready', { namespace: o.namespace, pods: pods.size });
    else o.logger?.warn('kube registry not ready', { reason });
    readiness = { ready, reason };
  };

  const schedule = (next: () => void, ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(next, ms);
  };

  const backoff = (): number => {
    const ms = delay;
    delay = Math.min(delay * 2, retryMaxMs);
    return ms;
  };

  const relist = async (): Promise<void> => {
    const gen = ++generation;
    controller?.abort();
    controller = undefined;
    try {
      const list = await withTimeout(api.listNamespacedPod({ namespace: o.namespace, labelSelector: o.projectLabel }), listTimeoutMs);
      if (closed || gen !== generation) return;
      const gone = new Map<string, string>();
      const listed = new Set(list.items.map((p) => p.metadata?.name));
      for (const name of [...pods.keys()]) if (!listed.has(name)) remove(name, `pod ${name} was deleted`, gone);
      for (const pod of list.items) upsert(pod as V1Pod & PodObject, gone);
      publish(gone);
      resourceVersion = list.metadata?.resourceVersion;
      delay = retryInitialMs;
      setReadiness(true, null);
      watch(gen);
    } catch (err) {
      if (closed || gen !== generation) return;
      setReadiness(false, `cannot list the pods of namespace ${o.namespace}: ${messageOf(err)}`);
      schedule(() => void relist(), backoff());
    }
  };

  const watch = (gen: number): void => {
    const startedAt = Date.now();
    let expired = false;
    let failure: string | undefined;
    // Watch.watch() calls done before it resolves when the request fails; after, the stream was up.
    let established = false;
    const stale = () => closed || gen !== generation;
    const onEvent = (type: string, object: PodObject & { code?: number; message?: string }): void => {
      if (stale()) return;
      if (type === 'ERROR') {
        // A Status: 410 Gone (Expired) means our resourceVersion is too old; anything else is a failure.
        if (object.code === 410) expired = true;
        else failure = object.message ?? `watch error ${object.code ?? ''}`;
        return;
      }
      resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
      if (type === 'BOOKMARK') return;
      const gone = new Map<string, string>();
      const name = object.metadata?.name ?? '';
      if (type === 'DELETED') remove(name, `pod ${name} was deleted`, gone);
      else upsert(object, gone);
      publish(gone);
    };
    const onDone = (err: unknown): void => {
      if (stale()) return;
      controller = undefined;
      if (expired) {
        o.logger?.info('pod watch expired; listing again', { resourceVersion });
        return void relist();
      }
      if (!established || failure) {
        // Could not connect, an HTTP error, or an ERROR event: the API server is not answering as it should.
        setReadiness(false, `cannot watch the pods of namespace ${o.namespace}: ${failure ?? messageOf(err)}`);
        return schedule(() => void relist(), backoff());
      }
      // A watch that was running ended (dropped, server timeout or restart): resume from the last
      // resourceVersion, without spinning on a server that ends every watch at once.
      o.logger?.debug('pod watch ended; resuming', { resourceVersion, err: err ? messageOf(err) : null });
      if (Date.now() - startedAt < 1000) schedule(() => watch(gen), backoff());
      else watch(gen);
    };
    const query = { labelSelector: o.projectLabel, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: o.watchTimeoutSeconds ?? 300 };
    watcher.watch(path, query, onEvent, onDone).then(
      (c) => {
        established = true;
        if (stale()) c.abort();
        else controller = c;
      },
      (err: unknown) => onDone(err ?? new Error('the watch could not start')),
    );
  };

  void relist();

  return {
    list: () => [...projects.values()].sort((a, b) => a.id.localeCompare(b.id)),
    get: (id) => projects.get(id),
    readiness: () => readiness,
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    onPodGone(pod, listener) {
      let set = goneListeners.get(pod);
      if (!set) goneListeners.set(pod, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) goneListeners.delete(pod);
      };
    },
    async close() {
      closed = true;
      generation++;
      clearTimeout(timer);
      controller?.abort();
      controller = undefined;
      changeListeners.clear();
      goneListeners.clear();
    },
  };
}

/** Words for a failed request: client-node's ApiException carries the HTTP code, fetch errors a message. */
function messageOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; statusCode?: unknown; body?: unknown };
    if (typeof e.code === 'number') return `HTTP ${e.code}${statusMessageOf(e.body)}`;
    if (typeof e.statusCode === 'number') return `HTTP ${e.statusCode}`;
    if (typeof e.message === 'string' && e.message) return e.message;
  }
  return String(err);
}

/** ": <message>" of a Status body (an object or its JSON text), or "". */
function statusMessageOf(body: unknown): string {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return '';
    }
  }
  const message = parsed && typeof parsed === 'object' ? (parsed as { message?: unknown }).message : undefined;
  return typeof message === 'string' && message ? `: ${message}` : '';
}
