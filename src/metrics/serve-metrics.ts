import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.js';
import type { AppMetrics } from './metrics.js';

/** `GET /metrics`: the app's metrics as Prometheus text; 405 for other methods. */
export async function serveMetrics(metrics: AppMetrics, logger: Logger, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end(`${req.method} is not allowed on /metrics\n`);
    return;
  }
  try {
    const text = await metrics.render();
    res.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  } catch (err) {
    logger.error('metrics failed', { err: String((err as Error)?.stack ?? err) });
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('metrics failed; see the server log\n');
  }
}
