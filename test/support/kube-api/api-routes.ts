/**
 * The plain (non-upgrade) HTTP routes of the test API server: discovery, namespaces, and pods
 * get/list/watch/delete/log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { apiGroups, coreApiVersions, coreV1Resources, versionInfo } from './discovery.js';
import { renderPod, type PodState } from './pod-object.js';
import type { PodFilter, PodStore } from './pod-store.js';
import { parseFieldSelector, parseLabelSelector, SelectorError } from './selectors.js';
import { failureStatus, podNotFound, sendJson, sendStatus } from './status.js';
import { renderPodTable, wantsTable } from './table.js';

/** What the routes need from the server. */
export interface ApiContext {
  store: PodStore;
  /** `host:port` of the server, for `/api`. */
  serverAddress: string;
  /** Deletes a pod the way the server's `deletePod` does (kills its processes). */
  deletePod(namespace: string, name: string): void;
  /** The text `pods/log` returns for a pod. */
  podLog(pod: PodState): string;
}

const POD_FIELDS = ['metadata.name', 'metadata.namespace', 'status.phase', 'spec.nodeName'] as const;
const PODS = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods$/;
const POD = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(?:\/(log|exec|attach|portforward))?$/;
const NAMESPACE = /^\/api\/v1\/namespaces\/([^/]+)$/;

/** Serves one request; unknown paths get the API server's 404 Status. */
export function handleApiRequest(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  if (method === 'GET') {
    const doc = discovery(ctx, path);
    if (doc !== undefined) return sendJson(res, 200, doc);
  }
  let m = PODS.exec(path);
  if (m) {
    if (method !== 'GET') return sendStatus(res, failureStatus(405, `the server does not allow this method on the requested resource`));
    const namespace = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    return listOrWatch(ctx, req, res, url.searchParams, namespace);
  }
  m = POD.exec(path);
  if (m) {
    const namespace = decodeURIComponent(m[1] ?? '');
    const name = decodeURIComponent(m[2] ?? '');
    const pod = ctx.store.get(namespace, name);
    if (!pod) return sendStatus(res, podNotFound(name));
    const sub = m[3];
    if (sub === undefined && method === 'GET') return sendJson(res, 200, renderPod(pod));
    if (sub === undefined && method === 'DELETE') {
      const last = renderPod(pod);
      ctx.deletePod(namespace, name);
      return sendJson(res, 200, last);
    }
    if (sub === 'log' && method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      return void res.end(ctx.podLog(pod));
    }
    if (sub === 'exec') return sendStatus(res, failureStatus(400, 'Upgrade request required'));
    return sendStatus(res, failureStatus(405, 'the server does not allow this method on the requested resource'));
  }
  m = NAMESPACE.exec(path);
  if (m && method === 'GET') {
    const name = decodeURIComponent(m[1] ?? '');
    return sendJson(res, 200, {
      kind: 'Namespace',
      apiVersion: 'v1',
      metadata: {
        name,
        uid: `00000000-0000-4000-8000-${Buffer.from(name).toString('hex').padEnd(12, '0').slice(0, 12)}`,
        resourceVersion: '1',
        labels: { 'kubernetes.io/metadata.name': name },
      },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  }
  sendStatus(res, failureStatus(404, 'the server could not find the requested resource'));
}

function discovery(ctx: ApiContext, path: string): unknown {
  switch (path) {
    case '/version':
      return versionInfo();
    case '/api':
      return coreApiVersions(ctx.serverAddress);
    case '/api/v1':
      return coreV1Resources();
    case '/apis':
      return apiGroups();
    default:
      return undefined;
  }
}

function listOrWatch(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, q: URLSearchParams, namespace: string | undefined): void {
  let filter: PodFilter;
  try {
    filter = {
      ...(namespace === undefined ? {} : { namespace }),
      labels: parseLabelSelector(q.get('labelSelector')),
      fields: parseFieldSelector(q.get('fieldSelector'), POD_FIELDS),
    };
  } catch (err) {
    if (err instanceof SelectorError) return sendStatus(res, failureStatus(400, err.message));
    throw err;
  }
  const watch = ['true', '1'].includes(q.get('watch') ?? '');
  if (!watch) {
    const pods = ctx.store.list(filter);
    const rv = ctx.store.resourceVersion;
    if (wantsTable(req)) {
      return sendJson(res, 200, renderPodTable(pods, rv, q.get('includeObject')), 'application/json;as=Table;v=v1;g=meta.k8s.io');
    }
    const items = pods.map((p) => {
      const { kind: _kind, apiVersion: _apiVersion, ...item } = renderPod(p);
      return item;
    });
    return sendJson(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
  }
  startWatch(ctx, res, q, filter, wantsTable(req));
}

function startWatch(ctx: ApiContext, res: ServerResponse, q: URLSearchParams, filter: PodFilter, asTable: boolean): void {
  const rvParam = q.get('resourceVersion') ?? '';
  const fromRv = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
  if (fromRv !== undefined && !Number.isInteger(fromRv)) {
    return sendStatus(res, failureStatus(400, `invalid resource version: ${rvParam}`));
  }
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  // Clients (client-node's Watch) wait for the headers before anything is written.
  res.flushHeaders();
  const write = (line: unknown) => res.write(`${JSON.stringify(line)}\n`);
  // Under `as=Table` (kubectl get -w) each event carries a one-row Table, as the real server sends.
  const render = (pod: PodState) => (asTable ? renderPodTable([pod], pod.resourceVersion, q.get('includeObject')) : renderPod(pod));
  const started = ctx.store.watch({ filter, send: (type, pod) => write({ type, object: render(pod) }) }, fromRv);
  if (!started.ok) {
    const { details: _details, ...status } = failureStatus(410, started.message);
    write({ type: 'ERROR', object: status });
    return void res.end();
  }
  const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
  const timer = timeoutSeconds > 0 ? setTimeout(() => res.end(), timeoutSeconds * 1000) : undefined;
  res.on('close', () => {
    started.stop();
    clearTimeout(timer);
  });
}
