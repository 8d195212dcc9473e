import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphiQLOptions } from 'graphql-yoga';
import { PAGE_CSP_META } from './page-csp.js';

/**
 * GraphiQL served by this server, offline. Yoga's default page loads GraphiQL from a CDN (blank
 * without internet access); `@graphql-yoga/render-graphiql` carries the same build (Yoga's
 * GraphiQL, its styles and Monaco's workers) as strings, but renders all of it into every page
 * (9 MB). Here the page is small and names the assets, which this server answers from those
 * strings under {@link GRAPHIQL_ASSETS_PATH}, so a browser caches them; the package is loaded
 * on the first GraphiQL request, not at start.
 */

/** Where the assets are served. */
export const GRAPHIQL_ASSETS_PATH = '/graphiql/';

/** Before the bundle: where Monaco finds its workers (on this server, not in blobs of inlined text). */
const START_JS = `self.MonacoEnvironment = {
  globalAPI: false,
  getWorkerUrl: function (_moduleId, label) {
    return ${JSON.stringify(GRAPHIQL_ASSETS_PATH)} + ({ json: 'json.worker.js', graphql: 'graphql.worker.js' }[label] || 'editor.worker.js');
  },
};
`;

/** After the bundle: render with the options the page carries (no inline script, so the CSP can forbid them). */
const RENDER_JS = `YogaGraphiQL.renderYogaGraphiQL(document.querySelector('#root'), JSON.parse(document.getElementById('graphiql-options').textContent));
`;

type Bundle = typeof import('@graphql-yoga/render-graphiql/graphiql');

/** GraphiQL's page (for Yoga's `renderGraphiQL`) and its assets. */
export interface GraphiQL {
  /** The page Yoga answers a browser's `GET /graphql` with. */
  render(options: GraphiQLOptions): string;
  /** Answers a request under {@link GRAPHIQL_ASSETS_PATH}: the asset, or 404. */
  serveAsset(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void>;
}

export function createGraphiQL(): GraphiQL {
  let table: Promise<Record<string, { type: string; body: string | Buffer }>> | undefined;
  const load = async (): Promise<Record<string, { type: string; body: string | Buffer }>> => {
    const b: Bundle = await import('@graphql-yoga/render-graphiql/graphiql');
    const favicon = /^data:[^;]+;base64,(.*)$/.exec(b.favicon);
    return {
      'start.js': { type: 'text/javascript; charset=utf-8', body: START_JS },
      'graphiql.js': { type: 'text/javascript; charset=utf-8', body: b.js },
      'render.js': { type: 'text/javascript; charset=utf-8', body: RENDER_JS },
      'graphiql.css': { type: 'text/css; charset=utf-8', body: b.css },
      'editor.worker.js': { type: 'text/javascript; charset=utf-8', body: b.editorWorkerService },
      'json.worker.js': { type: 'text/javascript; charset=utf-8', body: b.jsonWorker },
      'graphql.worker.js': { type: 'text/javascript; charset=utf-8', body: b.graphqlWorker },
      ...(favicon ? { 'favicon.ico': { type: 'image/x-icon', body: Buffer.from(favicon[1]!, 'base64') } } : {}),
    };
  };
  return {
    render(options) {
      // In a <script> element, "</" would end it early: JSON allows "<" as \u003c.
      const json = JSON.stringify(options).replace(/</g, '\\u003c');
      const title = String(options.title ?? 'GraphiQL').replace(/[<&"]/g, (c) => `&#${c.charCodeAt(0)};`);
      return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${PAGE_CSP_META}">
<title>${title}</title>
<link rel="icon" href="${GRAPHIQL_ASSETS_PATH}favicon.ico">
<link rel="stylesheet" href="${GRAPHIQL_ASSETS_PATH}graphiql.css">
</head>
<body id="body" class="no-focus-outline">
<noscript>GraphiQL needs JavaScript.</noscript>
<div id="root"></div>
<script id="graphiql-options" type="application/json">${json}</script>
<script src="${GRAPHIQL_ASSETS_PATH}start.js"></script>
<script src="${GRAPHIQL_ASSETS_PATH}graphiql.js"></script>
<script src="${GRAPHIQL_ASSETS_PATH}render.js"></script>
</body>
</html>
`;
    },
    async serveAsset(req, res, pathname) {
      const asset = (await (table ??= load()))[pathname.slice(GRAPHIQL_ASSETS_PATH.length)];
      if (!asset || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': asset.type, 'content-length': Buffer.byteLength(asset.body), 'cache-control': 'public, max-age=3600' });
      res.end(req.method === 'HEAD' ? undefined : asset.body);
    },
  };
}
