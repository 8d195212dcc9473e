import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlData, runShell, sseClient, until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    env: { RDEV_MAX_SUBSCRIPTIONS_PER_TOKEN: '1', RDEV_MAX_OUTPUT_BYTES: '4096', RDEV_MAX_CONCURRENT_TOTAL: '1' },
  });
});
afterAll(() => t.close());

describe('limits', () => {
  it('keeps 4096 bytes of a long output, drops the rest with one marker, and the command runs to the end', async () => {
    const id = await runShell(t.url, 'alpha', 'seq 1 5000; echo done >&2');
    const done = await waitFinal(t.url, id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    const { command } = await gqlData(t.url, `query($id: ID!) { command(id: $id) { output { stream text } } }`, { id });
    const markers = command.output.filter((o: any) => o.text.startsWith('[rdev] output limit'));
    const kept = command.output.filter((o: any) => !o.text.startsWith('[rdev] output limit'));
    const stdout = kept
      .filter((o: any) => o.stream === 'STDOUT')
      .map((o: any) => o.text)
      .join('');
    // The cap counts both streams together, in the order their bytes arrived: on the kube backend the
    // stderr line may come before the end of stdout (two spool files, two readers), and then it is kept.
    const keptBytes = kept.reduce((n: number, o: any) => n + Buffer.byteLength(o.text), 0);
    expect(keptBytes).toBeLessThanOrEqual(4096);
    // What is kept of stdout is its beginning, whole lines without a gap.
    expect(stdout.endsWith('\n')).toBe(true);
    const lines = stdout.split('\n').slice(0, -1);
    expect(lines.length).toBeGreaterThan(100);
    expect(lines).toEqual(Array.from({ length: lines.length }, (_, i) => String(i + 1)));
    // seq 1 5000 writes 23,893 bytes and "done\n" 5 more.
    expect(markers).toEqual([{ stream: 'STDERR', text: `[rdev] output limit of 4096 bytes reached: ${23_898 - keptBytes} bytes of output were dropped\n` }]);
  });

  it('queues past the total concurrency limit, across projects', async () => {
    // `a` holds the one slot until it is canceled: the check cannot race its end.
    const a = await runShell(t.url, 'alpha', 'sleep 300');
    const b = await runShell(t.url, 'beta', 'true');
    expect((await gqlData(t.url, `query($id: ID!) { command(id: $id) { status } }`, { id: b })).command.status).toBe('QUEUED');
    await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { id } }`, { id: a });
    const [first, queued] = [await waitFinal(t.url, a), await waitFinal(t.url, b)];
    expect({ first: first.status, queued: queued.status }).toEqual({ first: 'CANCELED', queued: 'SUCCEEDED' });
    // It waited for the slot: it started once the first had ended, not beside it.
    expect(Date.parse(queued.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.finishedAt));
  });

  it('refuses a second open subscription of the same caller, and allows it once the first is closed', async () => {
    const id = await runShell(t.url, 'alpha', 'echo watched');
    await waitFinal(t.url, id);
    const first = sseClient(t.url, false);
    const open = first.iterate({ query: 'subscription($p: ID!) { projectEvents(projectId: $p) { __typename } }', variables: { p: 'alpha' } });
    const pending = open.next();
    try {
      await until(
        async () => {
          const res = await fetch(`${t.url}/projects/alpha/events?stream_id=${id}`);
          await res.body?.cancel();
          return res.status === 429;
        },
        30_000,
        'the second subscription to be refused (the first counts once it is open)',
      );
    } finally {
      await open.return?.();
      first.dispose();
      void pending.catch(() => {});
    }
    await until(
      async () => {
        const res = await fetch(`${t.url}/projects/alpha/events?stream_id=${id}`);
        await res.body?.cancel();
        return res.status === 200;
      },
      30_000,
      'the slot to be released',
    );
  });
});

describe('the per-token rate of mutations', () => {
  let rated: TestApp;
  beforeAll(async () => {
    rated = await startTestApp({ env: { RDEV_MUTATIONS_PER_MINUTE: '3' } });
  });
  afterAll(() => rated?.close());

  it('refuses the commands past the per-token rate with RATE_LIMITED and a retry time', async () => {
    for (let i = 0; i < 3; i++) await runShell(rated.url, 'alpha', 'true');
    const res = await gql(rated.url, `mutation { runShell(input: { projectId: "alpha", command: "true" }) { id } }`);
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
  });
});

describe('a projectEvents subscriber that does not keep up', () => {
  let slow: TestApp;
  beforeAll(async () => {
    slow = await startTestApp({ env: { RDEV_MAX_SUBSCRIBER_BACKLOG: '20' } });
  });
  afterAll(() => slow?.close());

  /** A Yoga SSE subscription read through a raw socket that the test can stop reading. */
  function openRaw(query: string | undefined, route = '/graphql'): Promise<{ res: IncomingMessage; text: () => string; ended: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const url = new URL(`${slow.url}${route}`);
      const method = query === undefined ? 'GET' : 'POST';
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method, headers: { 'content-type': 'application/json', accept: 'text/event-stream' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          const ended = new Promise<void>((r) => res.on('end', () => r()));
          resolve({ res, text: () => text, ended });
        },
      );
      req.on('error', reject);
      req.end(query === undefined ? undefined : JSON.stringify({ query }));
    });
  }

  it('is ended with SLOW_SUBSCRIBER once more than RDEV_MAX_SUBSCRIBER_BACKLOG events wait for it, and the server goes on', async () => {
    const sub = await openRaw(
      'subscription { projectEvents(projectId: "beta") { __typename ... on ProjectCommandEvent { event { __typename ... on CommandOutput { text } } } } }',
    );
    // Subscribed once a command's output comes through; then the test stops reading.
    await runShell(slow.url, 'beta', 'echo ready');
    await until(() => sub.text().includes('ready'), 10_000, 'the subscription to see a command');
    sub.res.pause();
    // About 40 MB in events of up to 64 KiB: far more than the socket buffers hold, then 20 events wait.
    const flood = await runShell(slow.url, 'beta', "head -c 40000000 /dev/zero | tr '\\0' x | fold -w 999");
    expect((await waitFinal(slow.url, flood)).status).toBe('SUCCEEDED');
    sub.res.resume();
    await sub.ended;
    const last = sub
      .text()
      .split('\n\n')
      .filter((frame) => frame.startsWith('event: next'))
      .at(-1)!;
    expect(JSON.parse(last.slice(last.indexOf('data: ') + 'data: '.length))).toEqual({
      errors: [
        {
          message: "this subscription fell more than 20 events behind and was ended: subscribe again (commandEvents with `after` replays a command's events)",
          locations: [{ line: 1, column: 1 }],
          extensions: { code: 'SLOW_SUBSCRIBER', maxQueued: 20 },
        },
      ],
    });
    // The server is fine: the next command runs.
    expect((await waitFinal(slow.url, await runShell(slow.url, 'beta', 'echo after'))).status).toBe('SUCCEEDED');
  });

  it('REST: the project stream ends with an "ended" event saying so', async () => {
    const sub = await openRaw(undefined, '/projects/beta/events');
    await runShell(slow.url, 'beta', 'echo ready-rest');
    await until(() => sub.text().includes('ready-rest'), 10_000, 'the stream to see a command');
    sub.res.pause();
    const flood = await runShell(slow.url, 'beta', "head -c 40000000 /dev/zero | tr '\\0' x | fold -w 999");
    expect((await waitFinal(slow.url, flood)).status).toBe('SUCCEEDED');
    sub.res.resume();
    await sub.ended;
    const last = sub.text().trimEnd().split('\n\n').at(-1)!;
    expect(last).toBe(
      `event: ended\ndata: ${JSON.stringify({
        code: 'SLOW_SUBSCRIBER',
        message: "this subscription fell more than 20 events behind and was ended: subscribe again (commandEvents with `after` replays a command's events)",
      })}`,
    );
  });
});
