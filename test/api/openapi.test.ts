import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { scalarBundlePath } from '../../src/rest/docs.js';
import { restRoutes } from '../../src/rest/router.js';
import { envelope, restCommand, restErrorEnvelope, restProject, restStatus, sseComplete, sseOutput, sseStart } from '../../src/rest/schemas.js';
import { TOKENS_YAML } from './auth-fixtures.js';
import { waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';
import { readSse } from './sse-reader.js';

let t: TestApp;
let doc: any;
beforeAll(async () => {
  t = await startTestApp();
  doc = await (await fetch(`${t.url}/openapi.json`)).json();
});
afterAll(() => t.close());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** A documented operation's path with its parameters filled in. */
const concrete = (template: string): string => template.replace('{id}', 'alpha');

/** Answers `method path` as a client would; an SSE answer is cut once its head has arrived. */
async function request(method: string, template: string, operation: any): Promise<{ status: number; type: string; body: string }> {
  const init: RequestInit = { method: method.toUpperCase(), signal: AbortSignal.timeout(20_000) };
  const example = operation.requestBody?.content?.['application/json']?.example;
  if (example) init.body = JSON.stringify(example);
  if (example) init.headers = { 'content-type': 'application/json' };
  const controller = new AbortController();
  const res = await fetch(`${t.url}${concrete(template)}`, { ...init, signal: AbortSignal.any([init.signal!, controller.signal]) });
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    controller.abort();
    return { status: res.status, type, body: '' };
  }
  return { status: res.status, type, body: await res.text() };
}

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
  });

  it('documents every route of the REST router', () => {
    const missing = restRoutes().filter((r) => !doc.paths[r.path]?.[r.method.toLowerCase()]);
    expect(missing).toEqual([]);
    // A route's template matches its own pattern, so the two cannot name different routes.
    for (const r of restRoutes()) expect(r.pattern.test(concrete(r.path)), r.path).toBe(true);
  });

  it('every documented operation is served, answering a status it documents with a documented type', async () => {
    const served: string[] = [];
    for (const [template, item] of Object.entries<any>(doc.paths)) {
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const answer = await request(method, template, operation);
        const documented = operation.responses[String(answer.status)];
        expect(documented, `${method} ${template} answered ${answer.status}: ${answer.body.slice(0, 200)}`).toBeDefined();
        expect(
          Object.keys(documented.content ?? {}).some((type) => answer.type.startsWith(type)),
          `${method} ${template}: ${answer.type}`,
        ).toBe(true);
        served.push(`${method.toUpperCase()} ${template} ${answer.status}`);
      }
    }
    expect(served).toEqual([
      'GET / 200',
      'GET /health 200',
      'GET /ready 200',
      'GET /metrics 200',
      'GET /openapi.json 200',
      'GET /docs 200',
      'GET /docs/scalar.js 200',
      'GET /projects 200',
      'GET /projects/{id} 200',
      'POST /projects/{id}/shell 202',
      'POST /projects/{id}/git 202',
      'POST /projects/{id}/claude 202',
      'GET /projects/{id}/events 200',
    ]);
  });

  it('has its request bodies generated from the zod schemas the REST shims parse them with', () => {
    const shell = doc.components.schemas.ShellBody;
    expect(shell).toMatchObject({ type: 'object', additionalProperties: false, required: ['command'] });
    expect(Object.keys(shell.properties).sort()).toEqual(['command', 'idempotency_key', 'timeout_seconds', 'workdir']);
    expect(Object.keys(doc.components.schemas.ClaudeBody.properties).sort()).toEqual([
      'allowed_tools',
      'continue_session',
      'idempotency_key',
      'max_turns',
      'model',
      'permission_mode',
      'prompt',
      'session_id',
      'timeout_seconds',
    ]);
    expect(doc.components.schemas.GitBody.required).toEqual(['args']);
  });

  it('describes what is served: answers, errors and SSE events parse with the schemas it is made from', async () => {
    envelope(z.array(restProject)).parse(await (await fetch(`${t.url}/projects`)).json());
    envelope(restProject).parse(await (await fetch(`${t.url}/projects/alpha`)).json());
    envelope(restStatus).parse(await (await fetch(`${t.url}/health`)).json());
    restErrorEnvelope.parse(await (await fetch(`${t.url}/projects/nope`)).json());
    const refused = await fetch(`${t.url}/projects/alpha/shell`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"command": ""}' });
    expect(restErrorEnvelope.parse(await refused.json()).error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'command' });
    const started = await fetch(`${t.url}/projects/alpha/shell`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"command": "echo one; echo two >&2"}',
    });
    const command = envelope(restCommand).parse(await started.json()).data;
    await waitFinal(t.url, command.id);
    const events: Array<{ event: string; data: unknown }> = [];
    for await (const f of readSse(`${t.url}${command.stream_url}`)) if (f.event !== ':') events.push({ event: f.event, data: JSON.parse(f.data) });
    expect(events.map((e) => e.event).sort()).toEqual(['complete', 'output', 'output']);
    for (const e of events) (e.event === 'output' ? sseOutput : sseComplete).parse(e.data);
    expect(doc.components.schemas.SseStart.required).toEqual(sseStart.keyof().options);
  });
});

describe('/docs and /', () => {
  it("/docs is Scalar's API reference, loaded from this server only", async () => {
    const res = await fetch(`${t.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    expect(html).toContain('<script src="/docs/scalar.js"></script>');
    expect(html).toContain('data-url="/openapi.json"');
    expect(html).toContain('&quot;withDefaultFonts&quot;:false');
    expect(html).toContain('&quot;telemetry&quot;:false');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('/docs/scalar.js is the standalone bundle of the installed package', async () => {
    const res = await fetch(`${t.url}/docs/scalar.js`);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const text = await res.text();
    expect(text).toMatch(/@scalar\/api-reference \d+\.\d+\.\d+/);
    expect(text.length).toBe(readFileSync(scalarBundlePath(), 'utf8').length);
  });

  it('/ points a browser to GraphiQL and the docs, and anything else to the same as JSON', async () => {
    const page = await (await fetch(`${t.url}/`, { headers: { accept: 'text/html' } })).text();
    expect(page).toContain('<a href="/graphql">GraphiQL</a>');
    expect(page).toContain('<a href="/docs">REST docs</a>');
    expect(await (await fetch(`${t.url}/`)).json()).toEqual({ graphql: '/graphql', graphiql: '/graphql', docs: '/docs', openapi: '/openapi.json' });
  });
});

describe('with RDEV_TOKENS_FILE', () => {
  it('/, /docs, its script and /openapi.json stay open (a browser sends no token); the API does not', async () => {
    const guarded = await startTestApp({ tokensYaml: TOKENS_YAML });
    try {
      const statuses = await Promise.all(
        ['/', '/docs', '/docs/scalar.js', '/openapi.json', '/projects', '/metrics'].map(async (p) => [p, (await fetch(`${guarded.url}${p}`)).status]),
      );
      expect(Object.fromEntries(statuses)).toEqual({ '/': 200, '/docs': 200, '/docs/scalar.js': 200, '/openapi.json': 200, '/projects': 401, '/metrics': 401 });
    } finally {
      await guarded.close();
    }
  });
});
