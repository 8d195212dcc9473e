import { readFileSync, readdirSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_FIELDS, gql, gqlData, runShell, until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { RDEV_MAX_TIMEOUT_SECONDS: '3600' } });
});
afterAll(() => t.close());

/** Pids of live processes whose command line contains `marker`. */
function pidsWith(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(marker) && Number(entry) !== process.pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function outputOf(id: string): Promise<string> {
  const data = await gqlData<{ command: { output: Array<{ text: string }> } }>(t.url, `query($id: ID!) { command(id: $id) { output { text } } }`, { id });
  return data.command.output.map((o) => o.text).join('');
}

describe('runShell', () => {
  it('runs with sh -c in the workspace and returns at once with the command', async () => {
    const data = await gqlData(t.url, `mutation { runShell(input: { projectId: "alpha", command: "pwd; echo hi" }) { ${COMMAND_FIELDS} } }`);
    expect(data.runShell).toMatchObject({ kind: 'SHELL', argv: ['sh', '-c', 'pwd; echo hi'], status: 'RUNNING', exitCode: null, project: { id: 'alpha' } });
    const done = await waitFinal(t.url, data.runShell.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, error: null });
    // durationMs is the wall time from start to finish, in whole milliseconds.
    expect(done.durationMs).toBe(Date.parse(done.finishedAt) - Date.parse(done.startedAt));
    expect(await outputOf(done.id)).toBe(`${t.workspaces.alpha}\nhi\n`);
  });

  it('reports a non-zero exit as FAILED with the exit code as data', async () => {
    const done = await waitFinal(t.url, await runShell(t.url, 'alpha', 'exit 3'));
    expect(done).toMatchObject({ status: 'FAILED', exitCode: 3, error: 'exited with code 3' });
  });

  it('runs in a workdir inside the workspace', async () => {
    mkdirSync(path.join(t.projectDirs.alpha, 'sub', 'deeper'), { recursive: true });
    const id = await runShell(t.url, 'alpha', 'pwd', { workdir: 'sub/deeper/..' });
    await waitFinal(t.url, id);
    expect(await outputOf(id)).toBe(path.join(t.workspaces.alpha, 'sub') + '\n');
  });

  it.each([
    ['../escape', 'workdir'],
    ['/etc', 'workdir'],
    // A directory that does not exist is not refused here but as the command starts, on both backends (hostile.test.ts).
  ])('refuses workdir %s as BAD_USER_INPUT', async (workdir, field) => {
    const result = await gql(t.url, `mutation($w: String) { runShell(input: { projectId: "alpha", command: "true", workdir: $w }) { id } }`, { w: workdir });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('refuses an empty command, naming the field and the rule', async () => {
    const result = await gql(t.url, `mutation { runShell(input: { projectId: "alpha", command: "" }) { id } }`);
    expect(result.errors?.[0]).toMatchObject({
      message: 'command: must not be empty',
      extensions: { code: 'BAD_USER_INPUT', field: 'command', reason: 'must not be empty' },
    });
  });

  it.each([
    [0, 'must be at least 1 second'],
    [3601, 'must be at most 3600 seconds'],
  ])('refuses timeoutSeconds %s', async (timeoutSeconds, reason) => {
    const result = await gql(t.url, `mutation($s: Int) { runShell(input: { projectId: "alpha", command: "true", timeoutSeconds: $s }) { id } }`, {
      s: timeoutSeconds,
    });
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'timeoutSeconds', reason });
  });

  it('refuses a value of the wrong type with BAD_USER_INPUT', async () => {
    const result = await gql(t.url, `mutation($s: Int) { runShell(input: { projectId: "alpha", command: "true", timeoutSeconds: $s }) { id } }`, { s: 'ten' });
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(result.errors?.[0]?.message).not.toBe('Unexpected error.');
  });

  it('answers NOT_FOUND for an unknown project', async () => {
    const result = await gql(t.url, `mutation { runShell(input: { projectId: "nope", command: "true" }) { id } }`);
    expect(result.errors?.[0]).toMatchObject({ message: 'project "nope" not found', extensions: { code: 'NOT_FOUND' } });
  });

  it('answers PROJECT_NOT_READY for a project that cannot run commands', async () => {
    const result = await gql(t.url, `mutation { runShell(input: { projectId: "gone", command: "true" }) { id } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'PROJECT_NOT_READY', status: t.gone.status });
  });

  it('returns the first command again for a repeated idempotencyKey', async () => {
    const first = await runShell(t.url, 'alpha', 'echo once', { idempotencyKey: 'retry-1' });
    const second = await runShell(t.url, 'alpha', 'echo once', { idempotencyKey: 'retry-1' });
    expect(second).toBe(first);
  });
});

describe('runGit', () => {
  it('runs git with the arguments as argv', async () => {
    const data = await gqlData(t.url, `mutation { runGit(input: { projectId: "alpha", args: ["log", "--format=%s"] }) { id argv kind } }`);
    expect(data.runGit).toMatchObject({ kind: 'GIT', argv: ['git', 'log', '--format=%s'] });
    expect(await waitFinal(t.url, data.runGit.id)).toMatchObject({ status: 'SUCCEEDED' });
    expect(await outputOf(data.runGit.id)).toBe('init\n');
  });

  it('refuses an empty argument list', async () => {
    const result = await gql(t.url, `mutation { runGit(input: { projectId: "alpha", args: [] }) { id } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'args' });
  });
});

describe('runClaude', () => {
  it('builds the headless Claude argv with its options', async () => {
    const data = await gqlData(
      t.url,
      `mutation { runClaude(input: { projectId: "alpha", prompt: "hello", model: "sonnet", maxTurns: ` +
        `2, allowedTools: ["Read"] }) { id kind argv claude { sessionId } } }`,
    );
    expect(data.runClaude).toMatchObject({
      kind: 'CLAUDE',
      argv: [
        'claude',
        '-p',
        'hello',
        '--output-format',
        'stream-json',
        '--verbose',
        '--model',
        'sonnet',
        '--allowedTools',
        'Read',
        '--max-turns',
        '2',
        '--permission-mode',
        'acceptEdits',
      ],
      claude: { sessionId: null },
    });
    await waitFinal(t.url, data.runClaude.id);
  });

  it('refuses sessionId together with continueSession', async () => {
    const result = await gql(t.url, `mutation { runClaude(input: { projectId: "alpha", prompt: "x", sessionId: "abc", continueSession: true }) { id } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'continueSession' });
  });

  it('refuses maxTurns 0', async () => {
    const result = await gql(t.url, `mutation { runClaude(input: { projectId: "alpha", prompt: "x", maxTurns: 0 }) { id } }`);
    expect(result.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'maxTurns' });
  });
});

describe('cancel and timeout', () => {
  it('cancelCommand kills the whole process tree and reports CANCELED', async () => {
    const marker = 'sleep 301.25';
    const id = await runShell(t.url, 'alpha', `${marker} & echo started; wait`);
    await until(async () => (await outputOf(id)).includes('started'), 10_000, 'the command to start');
    expect(pidsWith(marker)).not.toEqual([]);
    const { cancelCommand } = await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { id status exitCode } }`, { id });
    // It answers once the command has ended (its group is gone); the supervisor, whose argv names the
    // command too, leaves a moment after writing the exit record.
    expect(cancelCommand).toEqual({ id, status: 'CANCELED', exitCode: null });
    await until(() => pidsWith(marker).length === 0, 5_000, 'the sleep child to die');
  });

  it('cancelCommand of a command that ignores SIGTERM answers CANCELED after the kill grace', async () => {
    const id = await runShell(t.url, 'alpha', `trap '' TERM; echo started; while :; do sleep 0.1; done`);
    await until(async () => (await outputOf(id)).includes('started'), 10_000, 'the command to start');
    const began = Date.now();
    const { cancelCommand } = await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { status } }`, { id });
    expect(cancelCommand).toEqual({ status: 'CANCELED' });
    // SIGKILL comes 2 s after SIGTERM; the answer waits for it, at most a second more.
    expect(Date.now() - began).toBeGreaterThanOrEqual(1900);
    expect(Date.now() - began).toBeLessThan(3500);
  });

  it('a command past its timeout is killed, tree included, and TIMED_OUT', async () => {
    const marker = 'sleep 302.5';
    const id = await runShell(t.url, 'alpha', `${marker} & wait`, { timeoutSeconds: 1 });
    const done = await waitFinal(t.url, id);
    expect(done).toMatchObject({ status: 'TIMED_OUT', exitCode: null, error: 'timed out after 1s' });
    expect(done.durationMs).toBeGreaterThanOrEqual(1000);
    await until(() => pidsWith(marker).length === 0, 5_000, 'the sleep child to die');
  });

  it('cancelling a finished command returns it unchanged', async () => {
    const id = await runShell(t.url, 'alpha', 'true');
    await waitFinal(t.url, id);
    const data = await gqlData(t.url, `mutation($id: ID!) { cancelCommand(id: $id) { status exitCode } }`, { id });
    expect(data.cancelCommand).toEqual({ status: 'SUCCEEDED', exitCode: 0 });
  });

  it('cancelling an unknown command is NOT_FOUND', async () => {
    const result = await gql(t.url, `mutation { cancelCommand(id: "cmd-nope") { id } }`);
    expect(result.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
