/**
 * The anchor of P3 and P5 (issue 14): a bare graphql-yoga server in a process of its own, with
 * Yoga's defaults and nothing of ours: a `{ hello }` query, and a `clock` subscription fed by ONE
 * publisher through Yoga's `createPubSub`, served over graphql-sse
 * (`@graphql-yoga/plugin-graphql-sse`, at `/graphql/stream` as our server serves it).
 *
 * Run as a script it prints `{"port":N}` on stdout and stays until its stdin closes. A line
 * `go N` on its stdin starts a clock process, the same shell loop the server's command runs
 * (`date +%s%3N; sleep 0.05`, N times), and the publisher publishes each chunk it reads from
 * that process's stdout (its lines, as the server's output events carry them), then `end`, which
 * completes every `clock` subscription. The clock is a process of its own on both sides: a clock
 * inside this process (a `setInterval`) slowed down with the fan-out it fed (about 650 ms a
 * tick for 1,000 subscribers at load 15), so its lines were stamped late, looked on time, and
 * most never came before the deadline. A `clock` subscriber first gets `ready` (it is then on
 * the pubsub), then the published lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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
  /** Starts the clock process: `lines` timestamps, 50 ms apart, each chunk of them published as it is read, then `end`. */
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
              // A Repeater adds its listener at the first `next()`: asked for before `ready`, so that `ready` means on the pubsub.
              const ticks = pubsub.subscribe('tick')[Symbol.asyncIterator]();
              const first = ticks.next();
              try {
                yield 'ready';
                for (let tick = await first; !tick.done && tick.value !== 'end'; tick = await ticks.next()) yield tick.value;
              } finally {
                await ticks.return?.();
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
  let clock: ChildProcess | undefined;
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const lines = Number(/^go (\d+)$/.exec(line)?.[1] ?? 0);
    clock?.kill();
    const me = (clock = spawn('sh', ['-c', `i=0; while [ $i -lt ${lines} ]; do date +%s%3N; sleep 0.05; i=$((i+1)); done`], { stdio: 'pipe' }));
    let carry = '';
    me.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const text = carry + chunk;
      const end = text.lastIndexOf('\n');
      carry = text.slice(end + 1);
      if (end >= 0) pubsub.publish('tick', text.slice(0, end));
    });
    me.on('close', () => pubsub.publish('tick', 'end'));
  });
  await new Promise((r) => commands.once('close', r));
  clock?.kill();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}

if (process.argv[1] === self) await serve();
