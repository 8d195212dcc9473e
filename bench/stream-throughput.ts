import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventSource } from 'eventsource';
import { createClient } from 'graphql-sse';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';

/**
 * How long an N-line command takes to reach a graphql-sse subscriber and an EventSource on the
 * REST shim, against the anchor: the same command spawned and read directly by this process.
 */

export interface StreamResult {
  name: string;
  ms: number;
  events: number;
}

function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  return fn().then((value) => [performance.now() - start, value]);
}

/** The anchor: spawn `seq 1 N` and read all of stdout. */
function direct(lines: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('seq', ['1', String(lines)]);
    let bytes = 0;
    child.stdout.on('data', (b: Buffer) => (bytes += b.length));
    child.on('error', reject);
    child.on('close', () => resolve(bytes));
  });
}

export async function streamThroughput(lines: number): Promise<StreamResult[]> {
  const data = mkdtempSync(path.join(tmpdir(), 'rdev-bench-'));
  const app = await createApp(loadConfig({ RDEV_DATA_DIR: data, RDEV_LOG_LEVEL: 'silent', RDEV_SHUTDOWN_GRACE_SECONDS: '0' }));
  const server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const start = async () => (await app.runs.start({ projectId: 'demo', kind: 'SHELL', argv: ['seq', '1', String(lines)] })).command.id;
  const results: StreamResult[] = [];
  try {
    const [anchorMs] = await time(() => direct(lines));
    results.push({ name: `anchor: spawn and read seq 1 ${lines}`, ms: anchorMs, events: 1 });

    for (const single of [false, true]) {
      const client = createClient({ url: `${url}/graphql/stream`, singleConnection: single, retryAttempts: 0 });
      const [ms, events] = await time(async () => {
        const id = await start();
        let n = 0;
        let text = 0;
        for await (const r of client.iterate({
          query: 'subscription($id: ID!) { commandEvents(id: $id) { __typename ... on CommandOutput { text } } }',
          variables: { id },
        })) {
          n++;
          text += ((r.data?.commandEvents as { text?: string })?.text ?? '').length;
        }
        if (text === 0) throw new Error('no output arrived');
        return n;
      });
      client.dispose();
      results.push({ name: `graphql-sse (${single ? 'single' : 'distinct'} connection)`, ms, events });
    }

    const [ms, events] = await time(async () => {
      const id = await start();
      return new Promise<number>((resolve, reject) => {
        const es = new EventSource(`${url}/projects/demo/events?stream_id=${id}`);
        let n = 0;
        es.addEventListener('output', () => n++);
        es.addEventListener('complete', () => {
          es.close();
          resolve(n + 1);
        });
        es.onerror = () => reject(new Error('EventSource failed'));
      });
    });
    results.push({ name: 'REST shim (EventSource, one event per line)', ms, events });
  } finally {
    await app.close();
    server.closeAllConnections();
    server.close();
    rmSync(data, { recursive: true, force: true });
  }
  return results;
}
