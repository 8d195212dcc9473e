import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from './harness.js';

/**
 * CORS is the gate's, on every route: off unless RDEV_CORS_ORIGINS lists origins, and then only
 * for those. GraphQL answers are no exception (Yoga's own CORS, which answers any origin, is off).
 */

const ALLOWED = 'https://allowed.example';
const OTHER = 'https://other.example';

async function post(t: TestApp, route: string, origin: string): Promise<Response> {
  return fetch(`${t.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin },
    body: JSON.stringify({ query: '{ projects { id } }' }),
  });
}

describe('without RDEV_CORS_ORIGINS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());

  it('a GraphQL answer to a cross-origin request allows no origin', async () => {
    const res = await post(t, '/graphql', OTHER);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('a preflight for /graphql allows nothing', async () => {
    const res = await fetch(`${t.url}/graphql`, { method: 'OPTIONS', headers: { origin: OTHER, 'access-control-request-method': 'POST' } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-methods')).toBeNull();
  });
});

describe('with RDEV_CORS_ORIGINS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ env: { RDEV_CORS_ORIGINS: ALLOWED } });
  });
  afterAll(() => t?.close());

  it('a listed origin is allowed on GraphQL and REST, without credentials', async () => {
    for (const route of ['/graphql', '/projects']) {
      const res = route === '/graphql' ? await post(t, route, ALLOWED) : await fetch(`${t.url}${route}`, { headers: { origin: ALLOWED } });
      expect(res.status, route).toBe(200);
      expect(res.headers.get('access-control-allow-origin'), route).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-credentials'), route).toBeNull();
    }
  });

  it('an origin not listed is not', async () => {
    const res = await post(t, '/graphql', OTHER);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a preflight from a listed origin is answered by the gate', async () => {
    const res = await fetch(`${t.url}/graphql`, { method: 'OPTIONS', headers: { origin: ALLOWED, 'access-control-request-method': 'POST' } });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, DELETE, OPTIONS');
  });
});
