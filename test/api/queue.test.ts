import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlData, runShell, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { RDEV_MAX_CONCURRENT_PER_PROJECT: '1', RDEV_MAX_QUEUED: '2' } });
});
afterAll(() => t.close());

const status = async (id: string) => (await gqlData(t.url, `query($id: ID!) { command(id: $id) { status startedAt } }`, { id })).command;

describe('per-project concurrency', () => {
  it('queues commands past the limit and runs them in order', async () => {
    // The first holds the slot until it is canceled: the checks below cannot race its end.
    const first = await runShell(t.url, 'alpha', 'sleep 300');
    const second = await runShell(t.url, 'alpha', 'true');
    const third = await runShell(t.url, 'alpha', 'true');
    expect((await status(first)).status).toBe('RUNNING');
    expect(await status(second)).toEqual({ status: 'QUEUED', startedAt: null });
    expect((await status(third)).status).toBe('QUEUED');
    // Another project has its own slots.
    const other = await runShell(t.url, 'beta', 'true');
    expect((await status(other)).status).not.toBe('QUEUED');
    expect((await status(second)).status).toBe('QUEUED');

    await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { id } }`, { id: first });
    const done = await Promise.all([first, second, third].map((id) => waitFinal(t.url, id)));
    expect(done.map((c) => c.status)).toEqual(['CANCELED', 'SUCCEEDED', 'SUCCEEDED']);
    const starts = done.map((c) => Date.parse(c.startedAt));
    expect(starts[1]).toBeGreaterThanOrEqual(Date.parse(done[0]!.finishedAt));
    expect(starts[2]).toBeGreaterThanOrEqual(starts[1]!);
  });

  it('refuses with TOO_MANY_COMMANDS when the queue is full', async () => {
    const running = await runShell(t.url, 'alpha', 'sleep 5');
    const queued = [await runShell(t.url, 'alpha', 'true'), await runShell(t.url, 'alpha', 'true')];
    const result = await gql(t.url, `mutation { runShell(input: { projectId: "alpha", command: "true" }) { id } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'TOO_MANY_COMMANDS', limit: 2 });
    for (const id of [...queued, running]) await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { id } }`, { id });
    // A cancel takes effect when the command's group is gone: wait for that before the next test.
    for (const id of [...queued, running]) await waitFinal(t.url, id);
  });

  it('a cancelled queued command never starts and ends CANCELED', async () => {
    const running = await runShell(t.url, 'alpha', 'sleep 5');
    const queued = await runShell(t.url, 'alpha', 'echo should-not-run');
    const { cancelCommand } = await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { status startedAt exitCode } }`, { id: queued });
    expect(cancelCommand).toEqual({ status: 'CANCELED', startedAt: null, exitCode: null });
    const events = await gqlData(t.url, `query($id: ID!) { command(id: $id) { output { text } } }`, { id: queued });
    expect(events.command.output).toEqual([]);
    const canceled = await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { status } }`, { id: running });
    expect(canceled.cancelCommand.status).toBe('CANCELED');
  });
});
