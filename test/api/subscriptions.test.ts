import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_EVENTS, EVENT_FIELDS, collect, gqlData, runShell, sseClient, until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';
import { readSse } from './sse-reader.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

// stdout and stderr are two pipes: the order *within* each is the command's; across them it is the
// order the server read them in, which a busy machine can change — so that is what the tests check.
const INTERLEAVED = 'echo o1; sleep 0.05; echo e1 >&2; sleep 0.05; echo o2; sleep 0.05; echo e2 >&2; exit 4';
const EXPECTED = { STDOUT: 'o1\no2\n', STDERR: 'e1\ne2\n', end: ['CommandCompleted', 'FAILED', 4] };

/** Each stream's text in order, and the last event, which must be the completion. */
function shape(events: any[]) {
  const text = (stream: string) =>
    events
      .filter((e) => e.__typename === 'CommandOutput' && e.stream === stream)
      .map((e) => e.text)
      .join('');
  const last = events.at(-1);
  return { STDOUT: text('STDOUT'), STDERR: text('STDERR'), end: [last.__typename, last.status, last.exitCode] };
}

describe.each([
  ['distinct connections', false],
  ['single connection', true],
])('commandEvents over graphql-sse (%s mode)', (_, single) => {
  it('streams output in order with its stream, then CommandCompleted, and ends', async () => {
    const client = sseClient(t.url, single);
    try {
      const id = await runShell(t.url, 'alpha', INTERLEAVED);
      const events = await collect(client, COMMAND_EVENTS, { id });
      expect(shape(events)).toEqual(EXPECTED);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(events.at(-1)).toMatchObject({ error: 'exited with code 4', durationMs: expect.any(Number) });
    } finally {
      client.dispose();
    }
  });

  it('gives a subscriber that arrives after the end the whole output', async () => {
    const client = sseClient(t.url, single);
    try {
      const id = await runShell(t.url, 'alpha', INTERLEAVED);
      await waitFinal(t.url, id);
      expect(shape(await collect(client, COMMAND_EVENTS, { id }))).toEqual(EXPECTED);
    } finally {
      client.dispose();
    }
  });

  it('with after: N gets exactly the events after N', async () => {
    const client = sseClient(t.url, single);
    try {
      const id = await runShell(t.url, 'alpha', INTERLEAVED);
      await waitFinal(t.url, id);
      const all = await collect(client, COMMAND_EVENTS, { id });
      for (const after of [1, 2, all.length - 1]) {
        const events = await collect(client, COMMAND_EVENTS, { id, after });
        expect(events).toEqual(all.slice(after));
      }
    } finally {
      client.dispose();
    }
  });

  it('a 200,000-line command arrives complete and in order', async () => {
    const client = sseClient(t.url, single);
    try {
      const started = performance.now();
      const id = await runShell(t.url, 'alpha', 'seq 1 200000');
      const events = await collect(client, COMMAND_EVENTS, { id });
      const ms = performance.now() - started;
      const text = events
        .filter((e) => e.__typename === 'CommandOutput')
        .map((e) => e.text)
        .join('');
      expect(text).toBe(Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join(''));
      expect(events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'SUCCEEDED' });
      expect(events.length).toBeLessThan(1000); // coalesced, not one event per line
      console.log(`graphql-sse ${single ? 'single' : 'distinct'}: 200000 lines in ${events.length} events, ${ms.toFixed(0)} ms`);
    } finally {
      client.dispose();
    }
  });

  it('refuses an unknown command with NOT_FOUND', async () => {
    const client = sseClient(t.url, single);
    try {
      await expect(collect(client, COMMAND_EVENTS, { id: 'cmd-nope' })).rejects.toThrow(/NOT_FOUND/);
    } finally {
      client.dispose();
    }
  });
});

describe('commandEvents over Yoga SSE (/graphql, fetch)', () => {
  it('streams next events and a complete event', async () => {
    const id = await runShell(t.url, 'alpha', INTERLEAVED);
    const frames = [];
    for await (const frame of readSse(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: COMMAND_EVENTS, variables: { id } }),
    })) {
      if (frame.event === ':' || frame.event === 'message') continue;
      frames.push(frame);
      if (frame.event === 'complete') break;
    }
    expect(frames.at(-1)!.event).toBe('complete');
    const events = frames.filter((f) => f.event === 'next').map((f) => JSON.parse(f.data).data.commandEvents);
    expect(shape(events)).toEqual(EXPECTED);
  });
});

describe('subscribers and commands', () => {
  it('a subscriber that leaves does not stop the command', async () => {
    const client = sseClient(t.url, false);
    try {
      const id = await runShell(t.url, 'alpha', 'echo first; sleep 0.5; echo second');
      for await (const result of client.iterate({ query: COMMAND_EVENTS, variables: { id } })) {
        expect((result.data as any).commandEvents.text).toBe('first\n');
        break; // leave after the first event
      }
      expect(await waitFinal(t.url, id)).toMatchObject({ status: 'SUCCEEDED' });
      const data = await gqlData(t.url, `query($id: ID!) { command(id: $id) { output { text } } }`, { id });
      expect(data.command.output.map((o: any) => o.text).join('')).toBe('first\nsecond\n');
    } finally {
      client.dispose();
    }
  });
});

describe('projectEvents', () => {
  it("carries a project's command status changes and output, each naming the command", async () => {
    const client = sseClient(t.url, false);
    const seen: any[] = [];
    const query = `subscription { projectEvents(projectId: "beta") {
      __typename
      ... on CommandStatusChanged { projectId commandId status command { id kind } }
      ... on ProjectCommandEvent { projectId commandId event { ${EVENT_FIELDS} } }
      ... on ProjectStatusChanged { projectId projectStatus statusMessage }
    } }`;
    let id = '';
    const done = (async () => {
      for await (const result of client.iterate({ query })) {
        const event = (result.data as any).projectEvents;
        seen.push(event);
        if (event.__typename === 'CommandStatusChanged' && event.status === 'SUCCEEDED') break;
      }
    })();
    try {
      // The subscription is live once a command started after it shows up; start one until it does.
      await until(
        async () => {
          if (seen.length > 0) return true;
          id = await runShell(t.url, 'beta', 'echo hello');
          await waitFinal(t.url, id);
          return false;
        },
        10_000,
        'projectEvents to deliver',
      );
      await done;
      const mine = seen.filter((e) => e.commandId === seen[0].commandId);
      expect(
        mine.map((e) => (e.__typename === 'ProjectCommandEvent' ? [e.event.__typename, e.event.text ?? e.event.status] : [e.__typename, e.status])),
      ).toEqual([
        ['CommandStatusChanged', 'RUNNING'],
        ['CommandOutput', 'hello\n'],
        ['CommandCompleted', 'SUCCEEDED'],
        ['CommandStatusChanged', 'SUCCEEDED'],
      ]);
      expect(mine.every((e) => e.projectId === 'beta')).toBe(true);
    } finally {
      client.dispose();
    }
  });
});
