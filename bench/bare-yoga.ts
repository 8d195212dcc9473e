/**
 * The anchor of P3 and P5 (issue 14): a bare graphql-yoga server in a process of its own, with
 * Yoga's defaults and nothing of ours: a `{ hello }` query, and a `clock` subscription fed by ONE
 * publisher through Yoga's `createPubSub`, served over graphql-sse
 * (`@graphql-yoga/plugin-graphql-sse`, at `/graphql/stream` as our server serves it).
 *
 * Run as a script it prints `{"port":N}` on stdout and stays until its stdin closes. A line
 * `go N` on its stdin makes the publisher publish `Date.now()` every 50 ms, N times, then `end`,
 * which completes every `clock` subscription. A `clock` subscriber first gets `ready` (it is then
 * on the pubsub), then the published lines.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';

const self = fileURLToPath(import.meta.url);

/** A running bare Yoga process. */
export interface BareYoga {
  url: string;
  pid: number;
  /** Starts the publisher: `lines` timestamps, 50 ms apart, then `end`. */
  go(lines: number): void;
  /** Ends the process and waits for it. */
  stop(): Promise<void>;
}

/** Starts the bare Yoga process; resolves once it listens. */
export async function startBareYoga(): Promise<BareYoga> {
  // BENCH_BARE_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`): node options for this process only, to profile the anchor.
  const nodeArgs = process.env.BENCH_BARE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const p = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', self], { stdio: ['pipe', 'pipe', 'inherit'] });
  const closed = new Promise((r) => p.on('close', r));
  const stop = async (): Promise<void> => {
    p.stdin.end();
    await closed;
  };
  const { value, done } = await createInterface({ input: p.stdout })[Symbol.asyncIterator]().next();
  if (done) {
    await stop();
    throw new Error('the bare Yoga process printed nothing');
  }
  const { port } = JSON.parse(value as string) as { port: number };
  return { url: `http://127.0.0.1:${port}`, pid: p.pid!, go: (lines) => p.stdin.write(`go ${lines}\n`), stop };
}

async function serve(): Promise<void> {
  const pubsub = createPubSub<{ tick: [string] }>();
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: 'type Query { hello: String! } type Subscription { clock: String! }',
      resolvers: {
        Query: { hello: () => 'world' },
        Subscription: {
          clock: {
            subscribe: async function* () {
              const ticks = pubsub.subscribe('tick');
              yield 'ready';
              for await (const tick of ticks) {
                if (tick === 'end') return;
                yield tick;
              }
            },
            resolve: (tick: string) => tick,
          },
        },
      },
    }),
    plugins: [useGraphQLSSE()],
    logging: false,
  });
  const server = createServer(yoga);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  console.log(JSON.stringify({ port: (server.address() as { port: number }).port }));
  let timer: NodeJS.Timeout | undefined;
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const lines = Number(/^go (\d+)$/.exec(line)?.[1] ?? 0);
    let sent = 0;
    clearInterval(timer);
    timer = setInterval(() => {
      if (sent++ < lines) return pubsub.publish('tick', String(Date.now()));
      clearInterval(timer);
      pubsub.publish('tick', 'end');
    }, 50);
  });
  await new Promise((r) => commands.once('close', r));
  clearInterval(timer);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

if (process.argv[1] === self) await serve();
