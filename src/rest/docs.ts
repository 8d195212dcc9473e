import { createReadStream, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { openApiDocument } from './openapi.js';
import type { RouteRequest } from './router.js';
import { PAGE_CSP_HEADER } from '../http/page-csp.js';

/**
 * `/`, `/openapi.json` and `/docs`: where a person starts. `/docs` is Scalar's API reference,
 * its standalone script served from the installed package (`@scalar/fastify-api-reference`
 * ships the same standalone bundle as `@scalar/api-reference`, without the ~300 packages the
 * latter installs), configured to load no fonts and send no telemetry; the page's
 * Content-Security-Policy keeps it from reaching any other origin.
 */

/** Scalar's configuration: this document, nothing fetched from elsewhere. */
const SCALAR_CONFIGURATION = {
  url: '/openapi.json',
  withDefaultFonts: false,
  telemetry: false,
  // Its AI agent searches a registry at scalar.com as soon as the page opens.
  agent: { disabled: true },
  hideDownloadButton: false,
  showDeveloperTools: 'never',
  defaultOpenAllTags: true,
  metaData: { title: 'rdev-api REST shims' },
};

/** The path of the standalone bundle in the installed package. */
export function scalarBundlePath(): string {
  const entry = createRequire(import.meta.url).resolve('@scalar/fastify-api-reference');
  return path.join(path.dirname(entry), 'js', 'standalone.js');
}

const escapeAttribute = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

function sendText(r: RouteRequest, type: string, text: string, headers: Record<string, string> = {}): void {
  r.res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-cache', ...headers });
  r.res.end(r.req.method === 'HEAD' ? undefined : text);
}

/** `GET /openapi.json`. */
export function serveOpenApi(_: unknown, r: RouteRequest): void {
  sendText(r, 'application/json; charset=utf-8', `${JSON.stringify(openApiDocument(), null, 2)}\n`, { 'access-control-allow-origin': '*' });
}

/** `GET /docs`: the page that loads the bundle, which reads `/openapi.json`. */
export function serveDocs(_: unknown, r: RouteRequest): void {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rdev-api REST shims</title>
</head>
<body>
<script id="api-reference" type="application/json" data-url="/openapi.json"
  data-configuration="${escapeAttribute(JSON.stringify(SCALAR_CONFIGURATION))}"></script>
<script src="/docs/scalar.js"></script>
</body>
</html>
`;
  sendText(r, 'text/html; charset=utf-8', html, { 'content-security-policy': PAGE_CSP_HEADER });
}

/** `GET /docs/scalar.js`: the standalone bundle, streamed from the package. */
export function serveScalarScript(_: unknown, r: RouteRequest): void {
  const file = scalarBundlePath();
  const { size } = statSync(file);
  r.res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'content-length': size, 'cache-control': 'public, max-age=3600' });
  if (r.req.method === 'HEAD') {
    r.res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => r.res.destroy())
    .pipe(r.res);
}

/** The entry points, for `GET /` as JSON. */
export const ENTRY_POINTS = { graphql: '/graphql', graphiql: '/graphql', docs: '/docs', openapi: '/openapi.json' };

/** `GET /`: a small page for a browser, the entry points as JSON for anything else. */
export function serveRoot(_: unknown, r: RouteRequest): void {
  const accept = String(r.req.headers.accept ?? '');
  if (!accept.includes('text/html')) {
    sendText(r, 'application/json; charset=utf-8', `${JSON.stringify(ENTRY_POINTS)}\n`);
    return;
  }
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rdev-api</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .25rem}li{margin:.4rem 0}
</style>
</head>
<body>
<h1>rdev-api</h1>
<p>Runs Claude prompts, shell and git commands in claudebox workspaces, and streams their output.</p>
<ul>
<li><a href="/graphql">GraphiQL</a>: the GraphQL API (<code>/graphql</code>), opened with an example of every operation;
  subscriptions over SSE (<code>/graphql/stream</code>).</li>
<li><a href="/docs">REST docs</a>: the REST shims of the v0.4 clients (<a href="/openapi.json"><code>/openapi.json</code></a>, OpenAPI 3.1).</li>
<li><a href="/health"><code>/health</code></a>, <a href="/ready"><code>/ready</code></a>, <code>/metrics</code>.</li>
</ul>
</body>
</html>
`;
  sendText(r, 'text/html; charset=utf-8', html, { 'content-security-policy': PAGE_CSP_HEADER });
}
