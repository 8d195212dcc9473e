import type { ServerResponse } from 'node:http';
import { sseFrame } from './sse-frame.js';

/** One open Server-Sent Events response. */
export interface SseStream {
  /** Writes one event; resolves once the socket can take more (backpressure). */
  send(event: string, data: unknown, id?: string): Promise<void>;
  /** Writes events already framed with `sseFrame` (the lines of one command event) in one write; resolves once the socket can take more. */
  sendText(text: string): Promise<void>;
  /** Aborts when the client goes away or the server shuts down. */
  readonly signal: AbortSignal;
  /** Ends the response cleanly. */
  end(): void;
}

/** Every open SSE response, so that shutdown can end them all. */
export interface SseStreams {
  open(res: ServerResponse, heartbeatMs: number): SseStream;
  /** Ends every open stream. */
  closeAll(): void;
  count(): number;
}

export function createSseStreams(): SseStreams {
  const open = new Set<() => void>();
  return {
    open(res, heartbeatMs) {
      const controller = new AbortController();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no', // nginx and friends: do not buffer the stream
      });
      res.write('retry: 2000\n: connected\n\n');
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
      const end = (): void => {
        if (controller.signal.aborted) return;
        clearInterval(heartbeat);
        open.delete(end);
        controller.abort();
        res.end();
      };
      open.add(end);
      res.on('close', end);
      const write = async (text: string): Promise<void> => {
        if (controller.signal.aborted || text === '') return;
        if (res.write(text)) return;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done);
            controller.signal.removeEventListener('abort', done);
            resolve();
          };
          res.on('drain', done);
          controller.signal.addEventListener('abort', done, { once: true });
        });
      };
      return {
        signal: controller.signal,
        end,
        send: (event, data, id) => write(sseFrame(event, data, id)),
        sendText: write,
      };
    },
    closeAll() {
      for (const end of [...open]) end();
    },
    count: () => open.size,
  };
}
