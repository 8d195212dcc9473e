import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runShell, sseClient, until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';

/** The samples of `/metrics`, by series (`name{labels}`, as printed). */
async function scrape(t: TestApp): Promise<Map<string, number>> {
  const res = await fetch(`${t.url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** Polls `/metrics` until `series` reads `value`. */
async function untilSample(t: TestApp, series: string, value: number): Promise<void> {
  let last: number | undefined;
  await until(async () => (last = (await scrape(t)).get(series)) === value, 10_000, `${series} to be ${value}`).catch((err: Error) => {
    throw new Error(`${err.message} (it read ${last})`);
  });
}

/** A shell command that waits until the file `name` appears in the workspace. */
const waitFor = (name: string) => `while [ ! -e ${name} ]; do sleep 0.02; done`;

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp({ env: { RDEV_MAX_CONCURRENT_PER_PROJECT: '1' } });
});
afterEach(async () => {
  await t.close();
});

describe('/metrics', () => {
  it('answers Prometheus text with every rdev metric and the process metrics, to any token and to no one else', async () => {
    await t.close();
    t = await startTestApp({ tokensYaml: 'tokens:\n  - { name: ops, token: "ops-token-0123456789abcdef", role: viewer }\n' });
    expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
    const res = await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer ops-token-0123456789abcdef' } });
    const text = await res.text();
    expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8' });
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => `${name} ${type}`);
    expect(types).toEqual(
      expect.arrayContaining([
        'rdev_commands_started_total counter',
        'rdev_commands_finished_total counter',
        'rdev_commands_running gauge',
        'rdev_commands_queued gauge',
        'rdev_command_duration_seconds histogram',
        'rdev_command_first_output_seconds histogram',
        'rdev_command_output_bytes_total counter',
        'rdev_graphql_subscriptions_open gauge',
        'rdev_sse_connections_open gauge',
        'process_cpu_user_seconds_total counter',
      ]),
    );
  });

  it('refuses methods other than GET and HEAD', async () => {
    const res = await fetch(`${t.url}/metrics`, { method: 'DELETE' });
    expect({ status: res.status, allow: res.headers.get('allow') }).toEqual({ status: 405, allow: 'GET, HEAD' });
  });

  it('counts two shell commands started, one SUCCEEDED and one FAILED, with their output and timings', async () => {
    const ok = await runShell(t.url, 'alpha', 'echo ok');
    const bad = await runShell(t.url, 'alpha', 'exit 3');
    expect([(await waitFinal(t.url, ok)).status, (await waitFinal(t.url, bad)).status]).toEqual(['SUCCEEDED', 'FAILED']);
    // A command's metrics are counted once its end is durable, which a client may see a moment before
    // (on PostgreSQL the status row can commit before the completed event): wait for the last one.
    await untilSample(t, 'rdev_command_duration_seconds_count{kind="SHELL"}', 2);
    const s = await scrape(t);
    expect({
      started: s.get('rdev_commands_started_total{kind="SHELL"}'),
      succeeded: s.get('rdev_commands_finished_total{kind="SHELL",status="SUCCEEDED"}'),
      failed: s.get('rdev_commands_finished_total{kind="SHELL",status="FAILED"}'),
      gitStarted: s.get('rdev_commands_started_total{kind="GIT"}'),
      durations: s.get('rdev_command_duration_seconds_count{kind="SHELL"}'),
      // `exit 3` writes nothing, so only `echo ok` has a first byte; "ok\n" is 3 bytes.
      firstOutputs: s.get('rdev_command_first_output_seconds_count{kind="SHELL"}'),
      bytes: s.get('rdev_command_output_bytes_total{kind="SHELL"}'),
      running: s.get('rdev_commands_running'),
    }).toEqual({ started: 2, succeeded: 1, failed: 1, gitStarted: 0, durations: 2, firstOutputs: 1, bytes: 3, running: 0 });
  });

  it('shows a running and a queued command, and falls back to 0 when they end', async () => {
    const first = await runShell(t.url, 'alpha', waitFor('go'));
    const second = await runShell(t.url, 'alpha', waitFor('go'));
    await untilSample(t, 'rdev_commands_running', 1);
    expect((await scrape(t)).get('rdev_commands_queued')).toBe(1);
    writeFileSync(path.join(t.projectDirs.alpha, 'go'), '');
    await Promise.all([waitFinal(t.url, first), waitFinal(t.url, second)]);
    const s = await scrape(t);
    expect([s.get('rdev_commands_running'), s.get('rdev_commands_queued'), s.get('rdev_commands_started_total{kind="SHELL"}')]).toEqual([0, 0, 2]);
  });

  it('counts an open graphql-sse subscription until the client leaves', async () => {
    const client = sseClient(t.url, false);
    const events = client.iterate({ query: 'subscription { projectEvents(projectId: "alpha") { __typename } }' });
    const pending = events.next();
    await untilSample(t, 'rdev_graphql_subscriptions_open', 1);
    await events.return?.();
    await untilSample(t, 'rdev_graphql_subscriptions_open', 0);
    expect(await pending).toEqual({ done: true, value: undefined });
    client.dispose();
  });

  it('counts an open subscription over Yoga SSE on /graphql until the client leaves', async () => {
    const abort = new AbortController();
    const query = encodeURIComponent('subscription { projectEvents(projectId: "alpha") { __typename } }');
    const res = await fetch(`${t.url}/graphql?query=${query}`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    expect(res.status).toBe(200);
    await untilSample(t, 'rdev_graphql_subscriptions_open', 1);
    abort.abort();
    await untilSample(t, 'rdev_graphql_subscriptions_open', 0);
  });

  it('counts an open REST SSE stream until the client leaves', async () => {
    const abort = new AbortController();
    const res = await fetch(`${t.url}/projects/alpha/events`, { headers: { accept: 'text/event-stream' }, signal: abort.signal });
    expect(res.status).toBe(200);
    await untilSample(t, 'rdev_sse_connections_open', 1);
    abort.abort();
    await untilSample(t, 'rdev_sse_connections_open', 0);
    // The REST stream is not a GraphQL subscription.
    expect((await scrape(t)).get('rdev_graphql_subscriptions_open')).toBe(0);
  });
});
