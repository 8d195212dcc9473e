import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPHIQL_DEFAULT_QUERY } from '../../src/schema/graphiql.js';
import { startTestApp, type TestApp } from './harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const page = async (): Promise<string> => (await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } })).text();

describe('GraphiQL, offline', () => {
  it('is a small page that loads its scripts and styles from this server only', async () => {
    const html = await page();
    expect(html.length).toBeLessThan(20_000);
    const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(urls).toEqual(['/graphiql/favicon.ico', '/graphiql/graphiql.css', '/graphiql/start.js', '/graphiql/graphiql.js', '/graphiql/render.js']);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'self'; script-src 'self';/);
  });

  it("opens with this API's example operations, subscriptions over SSE", async () => {
    const json = /<script id="graphiql-options" type="application\/json">(.*?)<\/script>/s.exec(await page())![1]!;
    expect(JSON.parse(json)).toMatchObject({ title: 'rdev-api', defaultQuery: GRAPHIQL_DEFAULT_QUERY, subscriptionsProtocol: 'SSE' });
  });

  it.each([
    ['graphiql.js', 'text/javascript; charset=utf-8', /YogaGraphiQL/],
    ['graphiql.css', 'text/css; charset=utf-8', /\.graphiql-container/],
    ['start.js', 'text/javascript; charset=utf-8', /MonacoEnvironment/],
    ['render.js', 'text/javascript; charset=utf-8', /renderYogaGraphiQL/],
    ['editor.worker.js', 'text/javascript; charset=utf-8', /./],
    ['json.worker.js', 'text/javascript; charset=utf-8', /./],
    ['graphql.worker.js', 'text/javascript; charset=utf-8', /./],
  ])('serves /graphiql/%s from the installed package', async (name, type, content) => {
    const res = await fetch(`${t.url}/graphiql/${name}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    const text = await res.text();
    expect(text).toMatch(content);
    // No asset reaches for a CDN by itself.
    expect(text).not.toMatch(/unpkg\.com|cdn\.jsdelivr\.net/);
  });

  it('answers 404 for an asset it does not have', async () => {
    expect((await fetch(`${t.url}/graphiql/nope.js`)).status).toBe(404);
  });
});
