import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlData, runShell, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';

let t: TestApp;
const ids: string[] = [];
beforeAll(async () => {
  t = await startTestApp();
  // Five finished commands: alpha ×3 (one failing), beta ×2, oldest first.
  for (const [project, command] of [
    ['alpha', 'echo 1'],
    ['beta', 'echo 2'],
    ['alpha', 'exit 1'],
    ['beta', 'echo 4'],
    ['alpha', 'echo out; echo err >&2'],
  ]) {
    const id = await runShell(t.url, project!, command!);
    await waitFinal(t.url, id);
    ids.push(id);
  }
});
afterAll(() => t.close());

describe('projects', () => {
  it('lists every project with its status, workspace and pod (the pod name on kube, null on the local backend)', async () => {
    const data = await gqlData(t.url, `{ projects { id status statusMessage pod workspace } }`);
    const pod = (id: string) => (t.backend === 'kube' ? `claudebox-${id}-0` : null);
    expect(data.projects).toEqual([
      { id: 'alpha', status: 'READY', statusMessage: null, pod: pod('alpha'), workspace: t.workspaces.alpha },
      { id: 'beta', status: 'READY', statusMessage: null, pod: pod('beta'), workspace: t.workspaces.beta },
      { id: 'gone', status: t.gone.status, statusMessage: expect.any(String), pod: t.gone.pod, workspace: expect.any(String) },
    ]);
  });

  it('project(id) returns one project, or null for an unknown id', async () => {
    const data = await gqlData(t.url, `{ a: project(id: "alpha") { id status } b: project(id: "nope") { id } }`);
    expect(data).toEqual({ a: { id: 'alpha', status: 'READY' }, b: null });
  });

  it("Project.commands lists the project's commands newest first", async () => {
    const data = await gqlData(t.url, `{ project(id: "alpha") { commands { edges { node { id } } pageInfo { hasNextPage } } } }`);
    expect(data.project.commands).toEqual({ edges: [ids[4], ids[2], ids[0]].map((id) => ({ node: { id } })), pageInfo: { hasNextPage: false } });
  });

  it('Project.commands filters by status', async () => {
    const data = await gqlData(t.url, `{ project(id: "alpha") { commands(status: FAILED) { edges { node { id status } } } } }`);
    expect(data.project.commands.edges).toEqual([{ node: { id: ids[2], status: 'FAILED' } }]);
  });
});

describe('command', () => {
  it('has every field of the contract', async () => {
    const data = await gqlData(
      t.url,
      `query($id: ID!) { command(id: $id) { id project { id } kind argv status exitCode error createdAt startedAt finishedAt durationMs
        output { seq stream text at } claude { sessionId } } }`,
      { id: ids[4] },
    );
    const c = data.command;
    expect(c).toMatchObject({
      id: ids[4],
      project: { id: 'alpha' },
      kind: 'SHELL',
      argv: ['sh', '-c', 'echo out; echo err >&2'],
      status: 'SUCCEEDED',
      exitCode: 0,
      error: null,
      claude: null,
    });
    expect(new Date(c.createdAt).getTime()).toBeLessThanOrEqual(new Date(c.startedAt).getTime());
    expect(new Date(c.startedAt).getTime()).toBeLessThanOrEqual(new Date(c.finishedAt).getTime());
    expect(c.durationMs).toBe(new Date(c.finishedAt).getTime() - new Date(c.startedAt).getTime());
    expect(c.output.map((o: any) => [o.stream, o.text]).sort()).toEqual([
      ['STDERR', 'err\n'],
      ['STDOUT', 'out\n'],
    ]);
    for (const o of c.output) expect(Number.isNaN(Date.parse(o.at))).toBe(false);
  });

  it('output pages with after and first', async () => {
    // 168 KB: more than two events whatever the timing (an event holds at most 64 Ki characters).
    const id = await runShell(t.url, 'alpha', 'seq 1 30000');
    await waitFinal(t.url, id);
    const all = await gqlData(t.url, `query($id: ID!) { command(id: $id) { output { seq text } } }`, { id });
    expect(all.command.output.map((o: any) => o.text).join('')).toBe(Array.from({ length: 30000 }, (_, i) => `${i + 1}\n`).join(''));
    expect(all.command.output.length).toBeGreaterThanOrEqual(3);
    const firstSeq = all.command.output[0].seq;
    const page = await gqlData(t.url, `query($id: ID!, $a: Int) { command(id: $id) { output(after: $a, first: 1) { seq } } }`, { id, a: firstSeq });
    expect(page.command.output).toEqual([{ seq: all.command.output[1].seq }]);
  });

  it('is null for an unknown id', async () => {
    expect(await gqlData(t.url, `{ command(id: "cmd-nope") { id } }`)).toEqual({ command: null });
  });
});

describe('commands connection', () => {
  it('pages newest first with cursors', async () => {
    const q = `query($after: String) { commands(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const { commands }: any = await gqlData(t.url, q, { after });
      seen.push(...commands.edges.map((e: any) => e.node.id));
      expect(commands.pageInfo.endCursor).toBe(commands.edges.at(-1)?.cursor ?? null);
      pages++;
      if (!commands.pageInfo.hasNextPage) break;
      after = commands.pageInfo.endCursor;
    }
    expect(seen.slice(-5)).toEqual([...ids].reverse());
    expect(pages).toBe(Math.ceil(seen.length / 2));
  });

  it('filters by project and status', async () => {
    const data = await gqlData(t.url, `{ commands(projectId: "beta", status: SUCCEEDED) { edges { node { id } } } }`);
    expect(data.commands.edges).toEqual([{ node: { id: ids[3] } }, { node: { id: ids[1] } }]);
  });

  it('refuses a cursor it did not make, and a page size over 100', async () => {
    const bad = await gql(t.url, `{ commands(after: "garbage") { edges { cursor } } }`);
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    const big = await gql(t.url, `{ commands(first: 101) { edges { cursor } } }`);
    expect(big.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });
});

describe('GraphiQL', () => {
  it('a browser GET of /graphql gets GraphiQL, titled rdev-api, opened with the example operations', async () => {
    const res = await fetch(`${t.url}/graphql`, { headers: { accept: 'text/html' } });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(html).toContain('<title>rdev-api</title>');
    expect(html).toContain('mutation RunShell');
  });
});
