import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Guard } from '../auth/guard.js';
import type { Identity } from '../auth/identity.js';
import { assertAllowed } from '../auth/policy.js';
import { BadUserInputError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProjectRegistry } from '../projects/registry.js';
import type { ProjectEvents } from '../runs/project-events.js';
import type { RunManager } from '../runs/run-manager.js';
import { commandEvents, projectEvents } from './events.js';
import { requestIdOf, sendData, sendError, sendFailure } from './http.js';
import { getProject, listProjects, runCommand } from './projects.js';
import type { SseStreams } from './sse.js';

/** What the REST shims use: the same run manager and registry as the GraphQL schema. */
export interface RestContext {
  runs: RunManager;
  registry: ProjectRegistry;
  projectEvents: ProjectEvents;
  logger: Logger;
  streams: SseStreams;
  guard: Guard;
  /** Who is asking (checked by the gate). */
  identity: Identity;
  maxBodyBytes: number;
  heartbeatMs: number;
  /** Whether the history store answers (PostgreSQL may be away); absent: it always does. */
  storeReadiness?: (() => { ready: boolean; reason?: string | undefined }) | undefined;
}

/** One matched request. */
export interface RouteRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  requestId: string;
}

type Handler = (ctx: RestContext, r: RouteRequest) => void | Promise<void>;

const routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [
  { method: 'GET', pattern: /^\/health$/, handler: (_, r) => sendData(r.res, 200, { status: 'ok' }, r.requestId) },
  {
    method: 'GET',
    pattern: /^\/ready$/,
    handler: (ctx, r) => {
      const store = ctx.storeReadiness?.() ?? { ready: true };
      const { ready, reason } = store.ready ? ctx.registry.readiness() : store;
      if (ready) sendData(r.res, 200, { status: 'ready' }, r.requestId);
      else sendError(r.res, 503, 'NOT_READY', reason ?? 'not ready', r.requestId);
    },
  },
  { method: 'GET', pattern: /^\/projects\/?$/, handler: listProjects },
  { method: 'GET', pattern: /^\/projects\/(?<id>[^/]+)\/?$/, handler: getProject },
  { method: 'POST', pattern: /^\/projects\/(?<id>[^/]+)\/claude$/, handler: (ctx, r) => runCommand(ctx, r, 'CLAUDE') },
  { method: 'POST', pattern: /^\/projects\/(?<id>[^/]+)\/shell$/, handler: (ctx, r) => runCommand(ctx, r, 'SHELL') },
  { method: 'POST', pattern: /^\/projects\/(?<id>[^/]+)\/git$/, handler: (ctx, r) => runCommand(ctx, r, 'GIT') },
  {
    method: 'GET',
    pattern: /^\/projects\/(?<id>[^/]+)\/events$/,
    handler: (ctx, r) => (r.query.has('stream_id') ? commandEvents(ctx, r) : projectEvents(ctx, r)),
  },
];

/** True when the REST shims own `pathname` (everything else goes to GraphQL). */
export function isRestPath(pathname: string): boolean {
  return pathname === '/health' || pathname === '/ready' || pathname === '/projects' || pathname.startsWith('/projects/');
}

/** Answers a REST request: the matching route, 405 for a known path with another method, else 404. */
export async function handleRest(ctx: RestContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const requestId = requestIdOf(req);
  res.setHeader('x-request-id', requestId);
  let pathMatched = false;
  let decoded: string;
  try {
    decoded = url.pathname;
    for (const route of routes) {
      const match = route.pattern.exec(decoded);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) continue;
      const params = decodeParams(match.groups ?? {});
      // The same role table as the schema's scopes; running is checked (and audited) by the guard.
      if (route.method === 'GET' && decoded !== '/health' && decoded !== '/ready') assertAllowed(ctx.identity, 'read');
      await route.handler(ctx, { req, res, params, query: url.searchParams, requestId });
      return;
    }
    if (pathMatched) sendError(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${decoded}`, requestId);
    else sendError(res, 404, 'NOT_FOUND', `no route ${decoded}`, requestId);
  } catch (err) {
    if (res.headersSent) {
      ctx.logger.error('REST stream failed', { requestId, err: String(err) });
      res.destroy();
      return;
    }
    if (!(err instanceof Error && 'extensions' in err)) ctx.logger.error('REST request failed', { requestId, err: String((err as Error)?.stack ?? err) });
    sendFailure(res, err, requestId);
  }
}

/** Percent-decodes path parameters; a malformed encoding is the client's error (400), not a 500. */
function decodeParams(groups: Record<string, string>): Record<string, string> {
  try {
    return Object.fromEntries(Object.entries(groups).map(([k, v]) => [k, decodeURIComponent(v)]));
  } catch {
    throw new BadUserInputError('path', 'is not valid percent-encoded UTF-8');
  }
}
