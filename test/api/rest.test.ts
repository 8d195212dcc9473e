import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';
import { readSse, type SseEvent } from './sse-reader.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { RDEV_HEARTBEAT_SECONDS: '1', RDEV_MAX_BODY_BYTES: '2048' } });
});
afterAll(() => t.close());

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** Opens an EventSource on `path` and collects output/complete events until `complete` (then closes it). */
function eventSource(path: string): Promise<Array<{ type: string; id: string; data: any }>> {
  return new Promise((resolve, reject) => {
    const es = new EventSource(`${t.url}${path}`);
    const events: Array<{ type: string; id: string; data: any }> = [];
    es.addEventListener('output', (e) => events.push({ type: 'output', id: e.lastEventId, data: JSON.parse(e.data) }));
    es.addEventListener('complete', (e) => {
      events.push({ type: 'complete', id: e.lastEventId, data: JSON.parse(e.data) });
      es.close();
      resolve(events);
    });
    es.onerror = (err) => {
      es.close();
      reject(new Error(`EventSource failed: ${err.message ?? 'error'}`));
    };
  });
}

describe('REST shims: registry', () => {
  it('GET /health answers 200 in the envelope', async () => {
    const res = await fetch(`${t.url}/health`);
    const json = await res.json();
    expect(res.status).toBe(200);
    expect(json).toEqual({ data: { status: 'ok' }, meta: { request_id: expect.any(String), timestamp: expect.any(String) } });
  });

  it('GET /ready answers 200 once the registry is loaded', async () => {
    expect((await fetch(`${t.url}/ready`)).status).toBe(200);
  });

  it('GET /projects lists the projects', async () => {
    const json = await (await fetch(`${t.url}/projects`)).json();
    expect(json.data.map((p: any) => [p.id, p.status])).toEqual([
      ['alpha', 'ready'],
      ['beta', 'ready'],
      ['gone', t.gone.status.toLowerCase()],
    ]);
    expect(json.data[0]).toEqual({
      id: 'alpha',
      status: 'ready',
      status_message: null,
      pod: t.backend === 'kube' ? 'claudebox-alpha-0' : null,
      workspace: t.workspaces.alpha,
    });
  });

  it('GET /projects/{id} answers one project, 404 in the error envelope for an unknown one', async () => {
    expect((await (await fetch(`${t.url}/projects/beta`)).json()).data.id).toBe('beta');
    const res = await fetch(`${t.url}/projects/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'project "nope" not found', projectId: 'nope' }, meta: expect.any(Object) });
  });
});

describe('REST shims: running commands', () => {
  it('POST /projects/{id}/shell answers 202 with the seed fields, and the stream_url streams it', async () => {
    const { status, json } = await post('/projects/alpha/shell', { command: 'echo one; echo two >&2; exit 2' });
    expect(status).toBe(202);
    expect(json.data).toMatchObject({ id: expect.stringMatching(/^cmd-alpha-/), project: 'alpha', type: 'shell', status: 'running' });
    expect(json.data.stream_url).toBe(`/projects/alpha/events?stream_id=${json.data.id}`);
    const events = await eventSource(json.data.stream_url);
    expect(
      events
        .filter((e) => e.type === 'output')
        .map((e) => e.data)
        .sort((a, b) => a.line.localeCompare(b.line)),
    ).toEqual([
      { stream: 'stdout', line: 'one' },
      { stream: 'stderr', line: 'two' },
    ]);
    expect(events.at(-1)!.data).toMatchObject({ exit_code: 2, status: 'failed', duration_ms: expect.any(Number) });
  });

  it('POST /projects/{id}/git runs git with the args', async () => {
    const { status, json } = await post('/projects/alpha/git', { args: ['log', '--format=%s'] });
    expect(status).toBe(202);
    expect(json.data.type).toBe('git');
    const events = await eventSource(json.data.stream_url);
    expect(events.map((e) => e.data.line ?? e.data.status)).toEqual(['init', 'succeeded']);
  });

  it('POST /projects/{id}/claude builds the Claude argv from snake_case options', async () => {
    const { status, json } = await post('/projects/alpha/claude', { prompt: 'hi', max_turns: 2, model: 'opus', permission_mode: 'plan' });
    expect(status).toBe(202);
    expect(json.data).toMatchObject({
      type: 'claude',
      argv: ['claude', '-p', 'hi', '--output-format', 'stream-json', '--verbose', '--model', 'opus', '--max-turns', '2', '--permission-mode', 'plan'],
    });
    await waitFinal(t.url, json.data.id);
  });

  it.each([
    ['not JSON', '{"command":', 400, 'BAD_USER_INPUT'],
    ['a JSON array', '[]', 400, 'BAD_USER_INPUT'],
    ['a missing field', {}, 400, 'BAD_USER_INPUT'],
    ['an unknown field', { command: 'true', comand: 'x' }, 400, 'BAD_USER_INPUT'],
    ['a body over RDEV_MAX_BODY_BYTES', { command: 'x'.repeat(4096) }, 413, 'PAYLOAD_TOO_LARGE'],
  ])('refuses %s', async (_, body, status, code) => {
    const res = await post('/projects/alpha/shell', body);
    expect(res.status).toBe(status);
    expect(res.json.error.code).toBe(code);
  });

  it('names the field in a refusal', async () => {
    const res = await post('/projects/alpha/shell', { command: 'true', timeout_seconds: -1 });
    expect(res.json.error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timeout_seconds' });
  });

  it("names the REST field, not the GraphQL one, in the run manager's refusals", async () => {
    const res = await post('/projects/alpha/shell', { command: 'true', timeout_seconds: 999_999_999 });
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({
      code: 'BAD_USER_INPUT',
      message: expect.stringMatching(/^timeout_seconds: must be at most \d+ seconds$/),
      field: 'timeout_seconds',
      reason: expect.stringMatching(/^must be at most \d+ seconds$/),
    });
  });

  it('answers 404 for an unknown project and 405 for a wrong method', async () => {
    expect((await post('/projects/nope/shell', { command: 'true' })).status).toBe(404);
    expect((await fetch(`${t.url}/projects/alpha/shell`)).status).toBe(405);
  });
});

describe('REST shims: the events stream', () => {
  it('sends an id on every event, and Last-Event-ID resumes exactly after it', async () => {
    const { json } = await post('/projects/alpha/shell', { command: 'for i in 1 2 3 4 5 6; do echo line$i; done' });
    await waitFinal(t.url, json.data.id);
    const all: SseEvent[] = [];
    for await (const f of readSse(`${t.url}${json.data.stream_url}`)) if (f.event !== ':') all.push(f);
    expect(all.map((f) => f.event)).toEqual(['output', 'output', 'output', 'output', 'output', 'output', 'complete']);
    expect(all.every((f) => f.id)).toBe(true);
    for (let k = 0; k < all.length - 1; k++) {
      const rest: SseEvent[] = [];
      for await (const f of readSse(`${t.url}${json.data.stream_url}`, { headers: { 'last-event-id': all[k]!.id! } })) if (f.event !== ':') rest.push(f);
      expect(rest).toEqual(all.slice(k + 1));
    }
  });

  it('answers a reconnect after complete with 204, which stops an EventSource without repeats', async () => {
    const { json } = await post('/projects/alpha/shell', { command: 'echo only' });
    const es = new EventSource(`${t.url}${json.data.stream_url}`);
    const ids: string[] = [];
    es.addEventListener('output', (e) => ids.push(e.lastEventId));
    es.addEventListener('complete', (e) => ids.push(e.lastEventId));
    await until(() => es.readyState === EventSource.CLOSED, 10_000, 'the EventSource to stop after 204');
    expect(ids).toHaveLength(2);
    const res = await fetch(`${t.url}${json.data.stream_url}`, { headers: { 'last-event-id': ids[1]! } });
    expect(res.status).toBe(204);
  });

  it('sends a heartbeat comment while a command is quiet', async () => {
    // The command stays quiet until the test has seen a heartbeat (it creates the gate then), or 30 s without one: no race with a clock.
    const gate = `heartbeat-gate-${Date.now()}`;
    const { json } = await post('/projects/alpha/shell', {
      command: `i=0; while [ ! -e ${gate} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; echo late`,
    });
    const frames: SseEvent[] = [];
    for await (const f of readSse(`${t.url}${json.data.stream_url}`)) {
      frames.push(f);
      if (f.event === ':' && f.data === 'heartbeat') writeFileSync(path.join(t.projectDirs.alpha, gate), '');
    }
    // A heartbeat while quiet, before any output; then the command's events (more heartbeats may come between them).
    expect(frames.find((f) => f.event !== ':' || f.data !== 'connected')).toEqual({ event: ':', data: 'heartbeat' });
    expect(frames.filter((f) => f.event !== ':').map((f) => f.event)).toEqual(['output', 'complete']);
  });

  it('refuses an unknown stream_id with 404 and a Last-Event-ID it never sent with 400', async () => {
    expect((await fetch(`${t.url}/projects/alpha/events?stream_id=cmd-nope`)).status).toBe(404);
    const { json } = await post('/projects/alpha/shell', { command: 'true' });
    expect((await fetch(`${t.url}${json.data.stream_url}`, { headers: { 'last-event-id': 'garbage' } })).status).toBe(400);
  });

  it('without stream_id streams every command of the project, each event carrying its stream_id', async () => {
    const frames: SseEvent[] = [];
    const reading = (async () => {
      for await (const f of readSse(`${t.url}/projects/beta/events`)) {
        frames.push(f);
        if (f.event === 'complete') break;
      }
    })();
    await until(() => frames.length > 0, 5_000, 'the stream to open'); // the ": connected" comment
    const { json } = await post('/projects/beta/shell', { command: 'echo watched' });
    await reading;
    const data = frames.filter((f) => f.event === 'output' || f.event === 'complete').map((f) => JSON.parse(f.data));
    expect(data).toEqual([
      { stream_id: json.data.id, stream: 'stdout', line: 'watched' },
      { stream_id: json.data.id, exit_code: 0, duration_ms: expect.any(Number), status: 'succeeded', error: null },
    ]);
  });

  it('a 200,000-line command arrives complete and in order through an EventSource', async () => {
    const started = performance.now();
    const { json } = await post('/projects/alpha/shell', { command: 'seq 1 200000' });
    const events = await eventSource(json.data.stream_url);
    const ms = performance.now() - started;
    const lines = events.filter((e) => e.type === 'output').map((e) => e.data.line);
    expect(lines).toHaveLength(200_000);
    expect(lines.every((line, i) => line === String(i + 1))).toBe(true);
    expect(events.at(-1)!.data.status).toBe('succeeded');
    console.log(`REST shim: 200000 lines as ${events.length} SSE events, ${ms.toFixed(0)} ms`);
  });
});
