import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sseClient, until } from './client.js';
import { startTestApp, type TestApp } from './harness.js';

/**
 * Shutdown ends the GraphQL subscriptions that would otherwise go on for ever (a project's events)
 * before the server closes their connections. (In graphql-sse's single-connection mode the operation
 * belongs to a POST already answered 202: closing the connection, which the server does next, ends it.)
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

describe('app.close()', () => {
  it('ends an open projectEvents subscription over graphql-sse (distinct connections)', async () => {
    const client = sseClient(t.url, false);
    let ended = false;
    const run = (async () => {
      for await (const _ of client.iterate({ query: 'subscription { projectEvents(projectId: "alpha") { __typename } }' })) void _;
      ended = true;
    })();
    try {
      await until(async () => (await (await fetch(`${t.url}/metrics`)).text()).includes('rdev_graphql_subscriptions_open 1'), 30_000, 'it to be open');
      await t.app.close();
      await until(() => ended, 30_000, 'the subscription to end');
      await run;
      expect(ended).toBe(true);
    } finally {
      client.dispose();
    }
  });
});
