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
import { serveDocs, serveOpenApi, serveRoot, serveScalarScript } from './docs.js';
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

/** A route: `path` is its OpenAPI path template (`/projects/{id}`), `pattern` what it matches. */
interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  handler: Handler;
}

const routes: Route[] = [
  { method: 'GET', path: '/', pattern: /^\/$/, handler: serveRoot },
  { method: 'GET', path: '/openapi.json', pattern: /^\/openapi\.json$/, handler: serveOpenApi },
  { method: 'GET', path: '/docs', pattern: /^\/docs\/?$/, handler: serveDocs },
  { method: 'GET', path: '/docs/scalar.js', pattern: /^\/docs\/scalar\.js$/, handler: serveScalarScript },
  { method: 'GET', path: '/health', pattern: /^\/health$/, handler: (_, r) => sendData(r.res, 200, { status: 'ok' }, r.requestId) },
  {
    method: 'GET',
    path: '/ready',
    pattern: /^\/ready$/,
    handler: (ctx, r) => {
      const store = ctx.storeReadiness?.() ?? { ready: true };
      const { ready, reason } = store.ready ? ctx.registry.readiness() : store;
      if (ready) sendData(r.res, 200, { status: 'ready' }, r.requestId);
      else sendError(r.res, 503, 'NOT_READY', reason ?? 'not ready', r.requestId);
    },
  },
  { method: 'GET', path: '/projects', pattern: /^\/projects\/?$/, handler: listProjects },
  { method: 'GET', path: '/projects/{id}', pattern: /^\/projects\/(?<id>[^/]+)\/?$/, handler: getProject },
  { method: 'POST', path: '/projects/{id}/claude', pattern: /^\/projects\/(?<id>[^/]+)\/claude$/, handler: (ctx, r) => runCommand(ctx, r, 'CLAUDE') },
  { method: 'POST', path: '/projects/{id}/shell', pattern: /^\/projects\/(?<id>[^/]+)\/shell$/, handler: (ctx, r) => runCommand(ctx, r, 'SHELL') },
  { method: 'POST', path: '/projects/{id}/git', pattern: /^\/projects\/(?<id>[^/]+)\/git$/, handler: (ctx, r) => runCommand(ctx, r, 'GIT') },
  {
    method: 'GET',
    path: '/projects/{id}/events',
    pattern: /^\/projects\/(?<id>[^/]+)\/events$/,
    handler: (ctx, r) => (r.query.has('stream_id') ? commandEvents(ctx, r) : projectEvents(ctx, r)),
  },
];

/** Every REST route as method and OpenAPI path template (`/openapi.json` documents each one). */
export function restRoutes(): Array<{ method: string; path: string; pattern: RegExp }> {
  return routes.map(({ method, path, pattern }) => ({ method, path, pattern }));
}

/** Paths anyone may read, with or without a token: liveness, readiness, and the docs. */
export const OPEN_REST_PATHS: ReadonlySet<string> = new Set(['/', '/health', '/ready', '/openapi.json', '/docs', '/docs/', '/docs/scalar.js']);

/** True when the REST shims own `pathname` (everything else goes to GraphQL). */
export function isRestPath(pathname: string): boolean {
  return OPEN_REST_PATHS.has(pathname) || pathname === '/projects' || pathname.startsWith('/projects/');
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
      if (route.method === 'GET' && !OPEN_REST_PATHS.has(decoded)) assertAllowed(ctx.identity, 'read');
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
