import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { COMMAND_EVENTS, until } from './client.js';
import { readSse } from './sse-reader.js';

// This suite is about what the server writes to its log, not about a backend: it builds its own
// app (the local backend, a tokens file, a logger that keeps its lines) in both test projects.

const VIEWER = 'viewer-tok-5c1e9a7b3d0f4862';
const OPERATOR = 'operator-tok-8b2d6f0a4c9e1357';
const WRONG = 'wrong-tok-0f1e2d3c4b5a69788';

let root: string;
let app: App;
let server: Server;
let url: string;
const lines: string[] = [];
const logged = (): Array<Record<string, any>> => lines.map((l) => JSON.parse(l));
const requestLines = (): Array<Record<string, any>> => logged().filter((l) => l.msg === 'request');

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'rdev-api-logging-'));
  mkdirSync(path.join(root, 'alpha'));
  writeFileSync(path.join(root, 'projects.yaml'), 'projects:\n  - { id: alpha, path: alpha }\n');
  writeFileSync(
    path.join(root, 'tokens.yaml'),
    `tokens:\n  - { name: viewer, token: "${VIEWER}", role: viewer }\n  - { name: operator, token: "${OPERATOR}", role: operator }\n`,
  );
  const config = loadConfig({
    PORT: '0',
    RDEV_BACKEND: 'local',
    RDEV_DATA_DIR: path.join(root, 'data'),
    RDEV_PROJECTS_FILE: path.join(root, 'projects.yaml'),
    RDEV_TOKENS_FILE: path.join(root, 'tokens.yaml'),
    RDEV_SHUTDOWN_GRACE_SECONDS: '0',
  });
  app = await createApp(config, { logger: createLogger('debug', (line) => lines.push(line)) });
  await until(() => app.registry.readiness().ready, 10_000, 'the registry to load');
  server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

async function gql(token: string, query: string, variables: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

describe('structured logs', () => {
  it('never write a token, whether sent as a Bearer header or as ?access_token=', async () => {
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const { runShell } = await gql(OPERATOR, 'mutation { runShell(input: { projectId: "alpha", command: "echo hi" }) { id } }');
    await until(
      async () => (await gql(VIEWER, `{ command(id: "${runShell.id}") { status } }`)).command.status === 'SUCCEEDED',
      10_000,
      'the command to finish',
    );
    const statuses = [
      (await fetch(`${url}/projects`, { headers: bearer(VIEWER) })).status,
      (await fetch(`${url}/projects/alpha`, { headers: bearer(WRONG) })).status,
      // Not an SSE route: the query token is not accepted, and still not logged.
      (await fetch(`${url}/projects?access_token=${VIEWER}`)).status,
      (await fetch(`${url}/metrics?access_token=${OPERATOR}`)).status,
      (await fetch(`${url}/metrics`, { headers: bearer(VIEWER) })).status,
    ];
    expect(statuses).toEqual([200, 401, 401, 401, 200]);
    const frames: string[] = [];
    for await (const frame of readSse(`${url}/projects/alpha/events?stream_id=${runShell.id}&access_token=${VIEWER}`)) frames.push(frame.event);
    expect(frames.filter((e) => e !== ':')).toEqual(['output', 'complete']);
    const client = createClient({ url: `${url}/graphql/stream?access_token=${OPERATOR}`, retryAttempts: 0 });
    const events: unknown[] = [];
    for await (const result of client.iterate({ query: COMMAND_EVENTS, variables: { id: runShell.id } })) events.push(result);
    client.dispose();
    expect(events).toHaveLength(2);

    // Every request above (two SSE streams included) has its line once its response closed.
    const summaries = () => requestLines().map((l) => `${l.method} ${l.path} ${l.status} ${l.caller}`);
    const expected = [
      'POST /graphql 200 operator',
      'POST /graphql 200 viewer',
      'GET /projects 200 viewer',
      'GET /projects/alpha 401 null',
      'GET /projects 401 null',
      'GET /metrics 401 null',
      'GET /metrics 200 viewer',
      'GET /projects/alpha/events 200 viewer',
      'POST /graphql/stream 200 operator',
    ];
    await until(() => expected.every((e) => summaries().includes(e)), 10_000, 'a log line for every request');
    const text = lines.join('');
    expect([VIEWER, OPERATOR, WRONG].filter((token) => text.includes(token))).toEqual([]);
    // Not even redacted: query strings and headers are simply not logged.
    expect(text).not.toMatch(/access_token|bearer/i);
  });

  it('write one line per request, with the request id the client got back', async () => {
    const res = await fetch(`${url}/projects?page=2`, { headers: { authorization: `Bearer ${VIEWER}`, 'x-request-id': 'req-logging-1' } });
    const anonymous = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query":"{ projects { id } }"}',
    });
    expect([res.headers.get('x-request-id'), anonymous.status]).toEqual(['req-logging-1', 401]);
    const generated = anonymous.headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => requestLines().some((l) => l.requestId === generated), 10_000, 'the request lines');
    const mine = requestLines().filter((l) => l.requestId === 'req-logging-1' || l.requestId === generated);
    expect(mine).toEqual([
      {
        time: expect.any(String),
        level: 'info',
        msg: 'request',
        requestId: 'req-logging-1',
        method: 'GET',
        path: '/projects',
        status: 200,
        durationMs: expect.any(Number),
        caller: 'viewer',
      },
      {
        time: expect.any(String),
        level: 'info',
        msg: 'request',
        requestId: generated,
        method: 'POST',
        path: '/graphql',
        status: 401,
        durationMs: expect.any(Number),
        caller: null,
      },
    ]);
  });

  it('name the command on every line about one', async () => {
    const { runShell } = await gql(OPERATOR, 'mutation { runShell(input: { projectId: "alpha", command: "exit 4" }) { id } }');
    await until(() => logged().some((l) => l.msg === 'command finished' && l.commandId === runShell.id), 10_000, 'the command to finish');
    const about = logged().filter((l) => /^command /.test(l.msg) && l.commandId === runShell.id);
    expect(about.map((l) => l.msg)).toEqual(['command accepted', 'command started', 'command finished']);
    expect(logged().filter((l) => /^command /.test(l.msg) && typeof l.commandId !== 'string')).toEqual([]);
  });

  it('redact a credential that an error message quotes', () => {
    const out: string[] = [];
    createLogger('info', (line) => out.push(line)).error('upstream said', { err: `GET /x?access_token=${VIEWER}&a=1 with Authorization: Bearer ${OPERATOR}` });
    expect(JSON.parse(out[0]!).err).toBe('GET /x?access_token=[redacted]&a=1 with Authorization: Bearer [redacted]');
  });
});
