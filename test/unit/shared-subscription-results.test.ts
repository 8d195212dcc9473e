// useSharedSubscriptionResults: subscribers of the same event object share one execution when their
// document, operation, variables and caller are the same, and only then. A small Yoga on a real port,
// graphql-sse clients; the execution count is the field resolver's own count.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { createClient, type Client } from 'graphql-sse';
import { createSchema, createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedSubscriptionResults } from '../../src/schema/use-shared-subscription-results.js';
import { until } from '../api/client.js';

interface Tick {
  n: number;
}

/** Subscribers waiting for the next tick; one tick object is handed to all of them. */
const waiting = new Set<(tick: Tick) => void>();
let subscribed = 0;
let executions = 0;
let server: Server;
let url: string;
const clients: Client[] = [];

async function* ticks(): AsyncGenerator<Tick> {
  subscribed++;
  for (;;) yield await new Promise<Tick>((resolve) => waiting.add(resolve));
}

function publish(tick: Tick): void {
  const all = [...waiting];
  waiting.clear();
  for (const resolve of all) resolve(tick);
}

beforeAll(async () => {
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { ok: Boolean } type Tick { value(times: Int): Int!, caller: String! } type Subscription { tick(label: String): Tick! }',
      resolvers: {
        Subscription: { tick: { subscribe: () => ticks(), resolve: (tick: Tick) => tick } },
        Tick: {
          value: (tick: Tick, args: { times?: number | null }) => {
            executions++;
            return tick.n * (args.times ?? 1);
          },
          caller: (_: Tick, __: unknown, ctx: { caller: string }) => ctx.caller,
        },
      },
    }),
    context: ({ request }) => ({ caller: request.headers.get('x-caller') ?? '' }),
    plugins: [useSharedSubscriptionResults((ctx) => (ctx as { caller: string }).caller), useGraphQLSSE()],
    logging: false,
  });
  server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql/stream`;
});

afterAll(async () => {
  for (const client of clients) client.dispose();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** Subscribes as `caller`; collects what arrives. */
function subscribe(caller: string, query: string, variables: Record<string, unknown> = {}): Array<Record<string, unknown>> {
  const client = createClient({ url, headers: { 'x-caller': caller }, retryAttempts: 0 });
  clients.push(client);
  const got: Array<Record<string, unknown>> = [];
  client.subscribe({ query, variables }, { next: (r) => void got.push(r.data as Record<string, unknown>), error: () => {}, complete: () => {} });
  return got;
}

describe('shared subscription results', () => {
  it('executes once per event for subscribers with the same document, variables and caller; apart otherwise', async () => {
    const query = 'subscription($times: Int) { tick { value(times: $times) caller } }';
    const same = [subscribe('alice', query), subscribe('alice', query), subscribe('alice', query)];
    const otherCaller = subscribe('bob', query);
    const otherVariables = subscribe('alice', query, { times: 10 });
    const otherDocument = subscribe('alice', 'subscription { tick(label: "x") { value caller } }');
    await until(() => subscribed === 6 && waiting.size === 6, 10_000, 'six subscribers waiting for a tick');

    publish({ n: 1 });
    await until(() => [...same, otherCaller, otherVariables, otherDocument].every((g) => g.length === 1), 10_000, 'the first tick everywhere');
    await until(() => waiting.size === 6, 10_000, 'six subscribers waiting again');
    publish({ n: 2 });
    await until(() => [...same, otherCaller, otherVariables, otherDocument].every((g) => g.length === 2), 10_000, 'the second tick everywhere');

    // Four keys (the three alike share one) for each of the two ticks.
    expect(executions).toBe(8);
    for (const got of same) expect(got).toEqual([{ tick: { value: 1, caller: 'alice' } }, { tick: { value: 2, caller: 'alice' } }]);
    expect(otherCaller).toEqual([{ tick: { value: 1, caller: 'bob' } }, { tick: { value: 2, caller: 'bob' } }]);
    expect(otherVariables).toEqual([{ tick: { value: 10, caller: 'alice' } }, { tick: { value: 20, caller: 'alice' } }]);
    expect(otherDocument).toEqual([{ tick: { value: 1, caller: 'alice' } }, { tick: { value: 2, caller: 'alice' } }]);
  });
});
