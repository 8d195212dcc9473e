import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate, UnauthenticatedError } from '../auth/authenticate.js';
import type { Identity } from '../auth/identity.js';
import type { TokenSet } from '../auth/tokens.js';
import { ApiError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { meta, requestIdOf } from '../rest/http.js';
import { OPEN_REST_PATHS } from '../rest/router.js';

/** What the gate checks before a request reaches GraphQL or the REST shims. */
export interface GateOptions {
  /** null: authentication is off (loopback or RDEV_INSECURE). */
  tokens: TokenSet | null;
  /** Origins allowed by CORS ("*" for any); empty: CORS off. */
  corsOrigins: readonly string[];
  maxBodyBytes: number;
  /** Gets one `info` line per request when its response closes; none when absent. */
  logger?: Logger;
}

/** A request that passed the gate. */
export interface Admitted {
  identity: Identity;
  requestId: string;
  url: URL;
}

// DESIGN: with tokens, everything but liveness, readiness and the docs (`/`, `/docs`, `/openapi.json`:
// what the repository says anyway) needs one (/metrics too: a scraper sends a Bearer token).
const OPEN_PATHS = OPEN_REST_PATHS;
const JSON_TYPES = /^application\/(json|graphql-response\+json|graphql\+json)\s*(;|$)/i;

/** True for the routes a browser EventSource opens, which may carry `?access_token=`. */
export function isSseRoute(req: IncomingMessage, url: URL): boolean {
  if (url.pathname === '/graphql/stream') return true;
  if (/^\/projects\/[^/]+\/events$/.test(url.pathname)) return true;
  return url.pathname === '/graphql' && String(req.headers.accept ?? '').includes('text/event-stream');
}

/**
 * Answers CORS preflights, refuses cross-site-capable bodies (CSRF: a POST must be JSON, which a
 * form cannot send without a preflight), oversized bodies (413) and missing or wrong tokens (401);
 * otherwise returns who is asking. `/health` and `/ready` stay open.
 */
export function admit(o: GateOptions, req: IncomingMessage, res: ServerResponse): Admitted | undefined {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const requestId = requestIdOf(req);
  // One id per request: the REST router reads the header again, and every answer carries it.
  req.headers['x-request-id'] = requestId;
  res.setHeader('x-request-id', requestId);
  let caller: string | null = null;
  if (o.logger) logWhenClosed(o.logger, req, res, requestId, url.pathname, () => caller);
  const rest = !url.pathname.startsWith('/graphql');
  const fail = (
    status: number,
    code: ErrorCode | 'UNSUPPORTED_MEDIA_TYPE' | 'LENGTH_REQUIRED',
    message: string,
    headers: Record<string, string> = {},
  ): undefined => {
    const body = rest ? { error: { code, message }, meta: meta(requestId) } : { errors: [{ message, extensions: { code } }] };
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId, ...headers }).end(JSON.stringify(body));
    return undefined;
  };
  const origin = req.headers.origin;
  if (origin && o.corsOrigins.length > 0 && (o.corsOrigins.includes('*') || o.corsOrigins.includes(origin))) {
    res.setHeader('access-control-allow-origin', o.corsOrigins.includes('*') ? '*' : origin);
    res.setHeader('vary', 'Origin');
    res.setHeader('access-control-expose-headers', 'x-request-id');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
        'access-control-allow-headers': 'authorization, content-type, accept, last-event-id, x-graphql-event-stream-token, x-request-id',
        'access-control-max-age': '600',
      });
      res.end();
      return undefined;
    }
  }
  if (OPEN_PATHS.has(url.pathname)) {
    caller = 'anonymous';
    return { identity: { name: 'anonymous', role: 'viewer', projects: null, kinds: null, git: { forbidForcePush: true, subcommands: null } }, requestId, url };
  }

  if (req.method === 'POST') {
    const type = String(req.headers['content-type'] ?? '');
    if (!JSON_TYPES.test(type))
      return fail(415, 'UNSUPPORTED_MEDIA_TYPE', `a POST body must be JSON (content-type: application/json), not ${JSON.stringify(type || 'none')}`);
    const length = req.headers['content-length'];
    if (length === undefined) return fail(411, 'LENGTH_REQUIRED', 'a POST needs a Content-Length (chunked bodies are not accepted)');
    if (Number(length) > o.maxBodyBytes) return fail(413, 'PAYLOAD_TOO_LARGE', `request body exceeds ${o.maxBodyBytes} bytes`);
  }
  try {
    const header = req.headers.authorization;
    const identity = authenticate(o.tokens, {
      authorization: header,
      accessToken: isSseRoute(req, url) ? (url.searchParams.get('access_token') ?? undefined) : undefined,
    });
    caller = identity.name;
    return { identity, requestId, url };
  } catch (err) {
    if (err instanceof UnauthenticatedError) return fail(401, 'UNAUTHENTICATED', err.message, { 'www-authenticate': 'Bearer realm="rdev-api"' });
    if (err instanceof ApiError) return fail(400, err.code, err.message);
    throw err;
  }
}

/**
 * Logs one `info` line when the response closes: method, path, status, duration, request id and
 * caller (null when the gate refused to say who). The path goes without its query string, so that
 * `?access_token=` never reaches the log; no header is logged. `aborted` marks a response that the
 * client left before it ended (an SSE stream it closed, most often).
 */
function logWhenClosed(logger: Logger, req: IncomingMessage, res: ServerResponse, requestId: string, path: string, caller: () => string | null): void {
  const started = performance.now();
  res.once('close', () => {
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    logger.info('request', {
      requestId,
      method: req.method,
      path,
      status: res.statusCode,
      durationMs,
      caller: caller(),
      ...(res.writableFinished ? {} : { aborted: true }),
    });
  });
}
