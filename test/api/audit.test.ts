import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './client.js';
import { TOKENS, TOKENS_YAML, gqlAs, gqlDataAs, restAs } from './auth-fixtures.js';
import { startTestApp, type TestApp } from './harness.js';

/**
 * The audit log (DESIGN.md "Access and limits"): every command accepted or refused, who asked,
 * and how an accepted one ended, both through `auditLog` (admins only) and in
 * `<RDEV_DATA_DIR>/audit.log`, one JSON object per line.
 */

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ tokensYaml: TOKENS_YAML });
});
afterAll(() => t?.close());

const ENTRY_FIELDS = 'seq at decision caller projectId kind argv commandId refusal { code message } status exitCode outputBytes outputSha256 finishedAt';

/** Every entry of the audit log, newest first, as the admin reads it. */
async function auditLog(): Promise<Array<Record<string, any>>> {
  return (await gqlDataAs(t.url, TOKENS.admin, `{ auditLog(first: 200) { ${ENTRY_FIELDS} } }`)).auditLog;
}

/** The lines of `<data dir>/audit.log`, parsed. */
function auditFile(): Array<Record<string, any>> {
  return readFileSync(path.join(t.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** The lines of audit.log that `pick` selects, once there are `count` of them (the file is written after the call returns). */
async function auditLines(pick: (line: Record<string, any>) => boolean, count: number): Promise<Array<Record<string, any>>> {
  await until(() => auditFile().filter(pick).length >= count, 10_000, `${count} matching lines in audit.log`);
  return auditFile().filter(pick);
}

async function commandAs(token: string, id: string): Promise<Record<string, any>> {
  return (await gqlDataAs(t.url, token, `query($id: ID!) { command(id: $id) { status exitCode output { seq text } } }`, { id })).command;
}

describe('an accepted command', () => {
  // Both streams and more than ASCII, so that bytes are not characters and the order counts.
  const script = `printf 'h\\303\\251llo \\342\\234\\223\\n'; printf 'to stderr\\n' >&2; printf 'last\\n'; exit 3`;
  let id = '';
  let output = '';

  beforeAll(async () => {
    const { runShell } = await gqlDataAs(t.url, TOKENS.operator, `mutation($input: RunShellInput!) { runShell(input: $input) { id } }`, {
      input: { projectId: 'alpha', command: script },
    });
    id = runShell.id;
    await until(async () => (await commandAs(TOKENS.operator, id)).status === 'FAILED', 20_000, 'the command to finish');
    const command = await commandAs(TOKENS.operator, id);
    output = command.output.map((o: { text: string }) => o.text).join('');
  });

  it('ran as expected (the output that the audit must describe)', () => {
    expect(output.split('\n').sort()).toEqual(['', 'héllo ✓', 'last', 'to stderr']);
  });

  it('is in auditLog with the caller, the argv, and how it ended: exit code, output size and sha256 of exactly the output', async () => {
    const entries = (await auditLog()).filter((e) => e.commandId === id);
    expect(entries).toEqual([
      {
        seq: expect.any(Number),
        at: expect.any(String),
        decision: 'ACCEPTED',
        caller: 'operator',
        projectId: 'alpha',
        kind: 'SHELL',
        argv: ['sh', '-c', script],
        commandId: id,
        refusal: null,
        status: 'FAILED',
        exitCode: 3,
        outputBytes: Buffer.byteLength(output, 'utf8'),
        outputSha256: createHash('sha256').update(output, 'utf8').digest('hex'),
        finishedAt: expect.any(String),
      },
    ]);
    expect(Date.parse(entries[0]!.finishedAt)).toBeGreaterThanOrEqual(Date.parse(entries[0]!.at));
  });

  it('is in audit.log: an "accepted" line, then a "finished" line with the same outcome', async () => {
    const lines = await auditLines((l) => l.commandId === id, 2);
    expect(lines).toEqual([
      {
        event: 'accepted',
        seq: expect.any(Number),
        at: expect.any(String),
        decision: 'ACCEPTED',
        caller: 'operator',
        projectId: 'alpha',
        kind: 'SHELL',
        argv: ['sh', '-c', script],
        commandId: id,
        refusal: null,
        status: null,
        exitCode: null,
        outputBytes: null,
        outputSha256: null,
        finishedAt: null,
      },
      {
        event: 'finished',
        at: expect.any(String),
        commandId: id,
        status: 'FAILED',
        exitCode: 3,
        outputBytes: Buffer.byteLength(output, 'utf8'),
        outputSha256: createHash('sha256').update(output, 'utf8').digest('hex'),
      },
    ]);
  });
});

describe('a command that ends as it starts (its workdir does not exist)', () => {
  it('is audited accepted before finished, and its entry holds the end: FAILED, exit 125', async () => {
    const { runShell } = await gqlDataAs(t.url, TOKENS.operator, `mutation($input: RunShellInput!) { runShell(input: $input) { id } }`, {
      input: { projectId: 'alpha', command: 'echo never', workdir: 'no-such-dir' },
    });
    const id = runShell.id as string;
    await until(async () => (await commandAs(TOKENS.operator, id)).status === 'FAILED', 20_000, 'the command to fail');
    const lines = await auditLines((l) => l.commandId === id, 2);
    expect(lines.map((l) => [l.event, l.status])).toEqual([
      ['accepted', null],
      ['finished', 'FAILED'],
    ]);
    await until(async () => (await auditLog()).some((e) => e.commandId === id && e.status === 'FAILED'), 10_000, 'the entry to hold the end');
    const entries = (await auditLog()).filter((e) => e.commandId === id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ decision: 'ACCEPTED', caller: 'operator', status: 'FAILED', exitCode: 125 });
  });
});

describe('a refused command', () => {
  it.each([
    {
      what: "an operator's git option injection",
      token: TOKENS.operator,
      caller: 'operator',
      mutation: 'runGit(input: { projectId: "alpha", args: ["-c", "core.pager=audit-injection", "log"] })',
      kind: 'GIT',
      argv: ['git', '-c', 'core.pager=audit-injection', 'log'],
      code: 'BAD_USER_INPUT',
    },
    {
      what: "a viewer's runShell",
      token: TOKENS.viewer,
      caller: 'viewer',
      mutation: 'runShell(input: { projectId: "alpha", command: "echo audit-viewer" })',
      kind: 'SHELL',
      argv: ['sh', '-c', 'echo audit-viewer'],
      code: 'FORBIDDEN',
    },
    {
      what: "the git operator's runShell (kinds: [GIT])",
      token: TOKENS.gitOperator,
      caller: 'git-operator',
      mutation: 'runShell(input: { projectId: "alpha", command: "echo audit-git-operator" })',
      kind: 'SHELL',
      argv: ['sh', '-c', 'echo audit-git-operator'],
      code: 'FORBIDDEN',
    },
  ])('$what is refused with $code and recorded as REFUSED in auditLog and audit.log', async ({ token, caller, mutation, kind, argv, code }) => {
    const { body } = await gqlAs(t.url, token, `mutation { ${mutation} { id } }`);
    expect(body.errors?.[0]?.extensions?.code).toBe(code);
    const message = body.errors![0]!.message;

    const entries = (await auditLog()).filter((e) => JSON.stringify(e.argv) === JSON.stringify(argv));
    const refused = {
      decision: 'REFUSED',
      caller,
      projectId: 'alpha',
      kind,
      argv,
      commandId: null,
      refusal: { code, message },
      status: null,
      exitCode: null,
      outputBytes: null,
      outputSha256: null,
      finishedAt: null,
    };
    expect(entries).toEqual([{ seq: expect.any(Number), at: expect.any(String), ...refused }]);
    expect(await auditLines((l) => JSON.stringify(l.argv) === JSON.stringify(argv), 1)).toEqual([
      { event: 'refused', seq: entries[0]!.seq, at: expect.any(String), ...refused },
    ]);
  });

  it("a viewer's POST /projects/{id}/shell is refused with 403 and recorded as REFUSED", async () => {
    const res = await restAs(t.url, 'POST', '/projects/beta/shell', TOKENS.viewer, { command: 'echo audit-rest-viewer' });
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('FORBIDDEN');
    const entries = (await auditLog()).filter((e) => e.argv.includes('echo audit-rest-viewer'));
    expect(entries).toMatchObject([
      { decision: 'REFUSED', caller: 'viewer', projectId: 'beta', kind: 'SHELL', argv: ['sh', '-c', 'echo audit-rest-viewer'], refusal: { code: 'FORBIDDEN' } },
    ]);
  });
});

describe('auditLog', () => {
  it.each([
    ['an operator', TOKENS.operator, 'operator'],
    ['a viewer', TOKENS.viewer, 'viewer'],
  ])('is FORBIDDEN (403) for %s', async (_, token, name) => {
    const { status, body } = await gqlAs(t.url, token, '{ auditLog { seq } }');
    expect(status).toBe(403);
    expect(body).toEqual({
      data: null,
      errors: [
        {
          message: `Query.auditLog is not allowed for token ${name} (role ${name})`,
          locations: [{ line: 1, column: 3 }],
          path: ['auditLog'],
          extensions: { code: 'FORBIDDEN' },
        },
      ],
    });
  });

  it('lists newest first and pages with before', async () => {
    const all = await auditLog();
    expect(all.length).toBeGreaterThan(2);
    expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((x, y) => y - x));
    const { auditLog: page } = await gqlDataAs(t.url, TOKENS.admin, `query($before: Int) { auditLog(first: 2, before: $before) { seq } }`, {
      before: all[0]!.seq,
    });
    expect(page).toEqual([{ seq: all[1]!.seq }, { seq: all[2]!.seq }]);
  });

  it('names callers, never their tokens, in audit.log', () => {
    const text = readFileSync(path.join(t.dataDir, 'audit.log'), 'utf8');
    expect(text.length).toBeGreaterThan(0);
    for (const token of Object.values(TOKENS)) expect(text).not.toContain(token);
  });
});
