import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createClient, NetworkError } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './client.js';
import { TOKENS, TOKENS_YAML, WRONG_TOKEN, bearer, gqlAs, gqlDataAs, openSse, restAs, startLoggedApp, type Frame, type LoggedApp } from './auth-fixtures.js';
import { startTestApp, type TestApp } from './harness.js';

/**
 * Who may do what (DESIGN.md "Access and limits"): every query, mutation, subscription and REST
 * route, once per kind of caller, against one app with a tokens file. Each cell is answered as
 * "<HTTP status> <outcome>": the error code, or what an allowed call returned.
 */

const CALLERS = ['none', 'wrong', 'viewer', 'operator', 'admin', 'alphaOperator', 'gitOperator', 'accessToken'] as const;
type Caller = (typeof CALLERS)[number];

/** How a caller presents itself: a bearer token, or the viewer's token as `?access_token=` on every route. */
interface Credentials {
  token?: string;
  accessToken?: string;
}

function credentialsOf(caller: Caller): Credentials {
  if (caller === 'none') return {};
  if (caller === 'wrong') return { token: WRONG_TOKEN };
  if (caller === 'accessToken') return { accessToken: TOKENS.viewer };
  return { token: TOKENS[caller] };
}

const search = (c: Credentials, existing = ''): string =>
  c.accessToken === undefined ? existing : `${existing}${existing ? '&' : '?'}access_token=${c.accessToken}`;

let t: TestApp;
let a: LoggedApp;
const logLines: string[] = [];
/** Finished commands made before the matrix, one per project. */
const ids = { alpha: '', beta: '' };

beforeAll(async () => {
  t = await startTestApp();
  const tokensFile = path.join(path.dirname(t.dataDir), 'auth-matrix-tokens.yaml');
  writeFileSync(tokensFile, TOKENS_YAML);
  a = await startLoggedApp(t, { RDEV_TOKENS_FILE: tokensFile }, logLines);
  for (const project of ['alpha', 'beta'] as const) {
    const { runShell } = await gqlDataAs(a.url, TOKENS.admin, `mutation($p: ID!) { runShell(input: { projectId: $p, command: "echo ready" }) { id } }`, {
      p: project,
    });
    ids[project] = runShell.id;
  }
  await until(
    async () => {
      const { alpha, beta } = await gqlDataAs(
        a.url,
        TOKENS.admin,
        `query($alpha: ID!, $beta: ID!) { alpha: command(id: $alpha) { status } beta: command(id: $beta) { status } }`,
        ids,
      );
      return alpha.status === 'SUCCEEDED' && beta.status === 'SUCCEEDED';
    },
    20_000,
    'the setup commands to finish',
  );
});
afterAll(async () => {
  await a?.close();
  await t?.close();
});

/** A GraphQL answer as "<status> <code>" when it has errors, else "<status> <what verify says>". */
async function graphql(c: Credentials, query: string, variables: Record<string, unknown>, verify: (data: any) => string): Promise<string> {
  const { status, body } = await gqlAs(a.url, c.token, query, variables, search(c));
  if (body.errors?.length) return `${status} ${String(body.errors[0]!.extensions?.code)}`;
  return `${status} ${verify(body.data)}`;
}

/** A REST answer as "<status> <code>" for the error envelope, else "<status> <what verify says>". */
async function rest(c: Credentials, method: string, route: string, body: unknown, verify: (data: any) => string): Promise<string> {
  const { status, json } = await restAs(a.url, method, `${route}${search(c)}`, c.token, body);
  return `${status} ${describeRest(json, verify)}`;
}

function describeRest(json: any, verify: (data: any) => string): string {
  if (json?.error) {
    const envelope =
      typeof json.error.code === 'string' &&
      typeof json.error.message === 'string' &&
      typeof json.meta?.request_id === 'string' &&
      typeof json.meta?.timestamp === 'string';
    return envelope ? json.error.code : `not the error envelope: ${JSON.stringify(json)}`;
  }
  return verify(json?.data);
}

const idList = (list: Array<{ id: string }>): string => list.map((p) => p.id).join(',');
const isCommandOf = (project: string) => (c: { id?: string } | undefined) =>
  typeof c?.id === 'string' && c.id.startsWith(`cmd-${project}-`) ? 'OK' : `not a ${project} command: ${JSON.stringify(c)}`;

/** Runs a command as the admin in `project` until `done()` says the stream saw something (the subscription is live then). */
async function trigger(project: string, done: () => boolean): Promise<void> {
  await until(
    async () => {
      if (done()) return true;
      const { runShell } = await gqlDataAs(a.url, TOKENS.admin, `mutation($p: ID!) { runShell(input: { projectId: $p, command: "echo trigger" }) { id } }`, {
        p: project,
      });
      await until(
        async () =>
          done() ||
          (await gqlDataAs(a.url, TOKENS.admin, `query($id: ID!) { command(id: $id) { status } }`, { id: runShell.id })).command.status === 'SUCCEEDED',
        10_000,
        'the trigger',
      );
      return done();
    },
    10_000,
    'a live event',
  );
}

/** `commandEvents` through the graphql-sse client (distinct connections): "200 OK" when it streams to CommandCompleted. */
async function commandEventsOverGraphqlSse(c: Credentials, project: 'alpha' | 'beta'): Promise<string> {
  const client = createClient({ url: `${a.url}/graphql/stream${search(c)}`, headers: bearer(c.token), singleConnection: false, retryAttempts: 0 });
  const types: string[] = [];
  try {
    for await (const result of client.iterate({ query: `subscription($id: ID!) { commandEvents(id: $id) { __typename } }`, variables: { id: ids[project] } })) {
      if (result.errors?.length) return `200 ${String(result.errors[0]!.extensions?.code)}`;
      types.push((result.data as any).commandEvents.__typename);
    }
    return types.join(',') === 'CommandOutput,CommandCompleted' ? '200 OK' : `200 events ${types.join(',')}`;
  } catch (err) {
    if (err instanceof NetworkError && err.response) {
      const json = await err.response.json().catch(() => null);
      return `${err.response.status} ${String(json?.errors?.[0]?.extensions?.code)}`;
    }
    throw err;
  } finally {
    client.dispose();
  }
}

/** The first frame for which `pick` answers, skipping the rest. */
async function firstFrame(frames: AsyncGenerator<Frame>, pick: (f: Frame) => string | undefined): Promise<string> {
  for await (const frame of frames) {
    const answer = pick(frame);
    if (answer !== undefined) return answer;
  }
  return 'the stream ended';
}

/** `projectEvents` through Yoga's SSE (`/graphql`, accept: text/event-stream): "200 OK" on a live event. */
async function projectEventsOverYogaSse(c: Credentials, project: string): Promise<string> {
  const abort = new AbortController();
  try {
    const answer = await openSse(`${a.url}/graphql${search(c)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer(c.token) },
      body: JSON.stringify({ query: `subscription($p: ID!) { projectEvents(projectId: $p) { __typename } }`, variables: { p: project } }),
      signal: abort.signal,
    });
    if (!answer.frames) return `${answer.status} ${String(answer.json?.errors?.[0]?.extensions?.code)}`;
    let outcome: string | undefined;
    const reading = firstFrame(answer.frames, (f) => {
      if (f.event !== 'next') return undefined;
      const result = JSON.parse(f.data);
      return result.errors?.length ? String(result.errors[0].extensions?.code) : result.data?.projectEvents?.__typename ? 'OK' : `data ${f.data}`;
    }).then((o) => (outcome = o));
    await trigger(project, () => outcome !== undefined);
    return `200 ${await reading}`;
  } finally {
    abort.abort();
  }
}

/** `GET /projects/{id}/events?stream_id=…` of a finished command: "200 OK" when it replays to `complete` and ends. */
async function restCommandEvents(c: Credentials, project: 'alpha' | 'beta'): Promise<string> {
  const answer = await openSse(`${a.url}/projects/${project}/events${search(c, `?stream_id=${ids[project]}`)}`, { headers: bearer(c.token) });
  if (!answer.frames) return `${answer.status} ${describeRest(answer.json, () => 'not an error')}`;
  const events: string[] = [];
  for await (const f of answer.frames) if (f.event !== ':') events.push(`${f.event}:${JSON.parse(f.data).line ?? JSON.parse(f.data).status}`);
  return events.join(',') === 'output:ready,complete:succeeded' ? '200 OK' : `200 events ${events.join(',')}`;
}

/** `GET /projects/{id}/events` (live): "200 OK" when a command started after it opened shows up. */
async function restProjectEvents(c: Credentials, project: string): Promise<string> {
  const abort = new AbortController();
  try {
    const answer = await openSse(`${a.url}/projects/${project}/events${search(c)}`, { headers: bearer(c.token), signal: abort.signal });
    if (!answer.frames) return `${answer.status} ${describeRest(answer.json, () => 'not an error')}`;
    // The server subscribes before it writes its ": connected" comment, so one command after it is enough.
    const connected = await answer.frames.next();
    expect(connected.value).toMatchObject({ event: ':', data: 'connected' });
    const { runShell } = await gqlDataAs(a.url, TOKENS.admin, `mutation($p: ID!) { runShell(input: { projectId: $p, command: "echo live" }) { id } }`, {
      p: project,
    });
    return `200 ${await firstFrame(answer.frames, (f) => (f.event !== ':' && JSON.parse(f.data).stream_id === runShell.id ? 'OK' : undefined))}`;
  } finally {
    abort.abort();
  }
}

type Expected = Record<Caller, string>;
const UNAUTH = '401 UNAUTHENTICATED';
const FORBIDDEN_GQL = '403 FORBIDDEN';

/** Expected cells: unauthenticated callers get 401; `sse` rows accept `?access_token=`, the rest refuse it with 401. */
function cells(allowed: string, overrides: Partial<Expected> = {}, sse = false): Expected {
  return {
    none: UNAUTH,
    wrong: UNAUTH,
    viewer: allowed,
    operator: allowed,
    admin: allowed,
    alphaOperator: allowed,
    gitOperator: allowed,
    accessToken: sse ? allowed : UNAUTH,
    ...overrides,
  };
}
const everyone = (answer: string): Expected => Object.fromEntries(CALLERS.map((c) => [c, answer])) as Expected;

const ALL_PROJECTS = '200 alpha,beta,gone';
const RUN_GQL = (kind: string) => ({ viewer: FORBIDDEN_GQL, ...(kind === 'GIT' ? {} : { gitOperator: FORBIDDEN_GQL }) });
const RUN_REST = (kind: string) => ({ viewer: '403 FORBIDDEN', ...(kind === 'git' ? {} : { gitOperator: '403 FORBIDDEN' }) });

const RUN_MUTATIONS = {
  runShell: { input: (p: string) => ({ projectId: p, command: 'echo matrix' }), type: 'RunShellInput', kind: 'SHELL' },
  runGit: { input: (p: string) => ({ projectId: p, args: ['status', '--short'] }), type: 'RunGitInput', kind: 'GIT' },
  runClaude: { input: (p: string) => ({ projectId: p, prompt: 'say hi' }), type: 'RunClaudeInput', kind: 'CLAUDE' },
} as const;
const REST_BODIES = { shell: { command: 'echo matrix' }, git: { args: ['status', '--short'] }, claude: { prompt: 'say hi' } } as const;

const OPERATIONS: Array<{ name: string; run: (c: Credentials) => Promise<string>; expected: Expected }> = [
  // Queries.
  {
    name: 'query projects',
    run: (c) => graphql(c, '{ projects { id } }', {}, (d) => idList(d.projects)),
    expected: cells(ALL_PROJECTS, { alphaOperator: '200 alpha' }),
  },
  {
    name: 'query project(alpha)',
    run: (c) => graphql(c, '{ project(id: "alpha") { id status } }', {}, (d) => (d.project?.id === 'alpha' ? 'OK' : `project ${JSON.stringify(d.project)}`)),
    expected: cells('200 OK'),
  },
  {
    name: 'query project(beta)',
    run: (c) =>
      graphql(c, '{ project(id: "beta") { id } }', {}, (d) => (d.project === null ? 'null' : d.project.id === 'beta' ? 'OK' : JSON.stringify(d.project))),
    expected: cells('200 OK', { alphaOperator: '200 null' }),
  },
  {
    name: 'query command(alpha command)',
    run: (c) => graphql(c, 'query($id: ID!) { command(id: $id) { id } }', { id: ids.alpha }, (d) => isCommandOf('alpha')(d.command)),
    expected: cells('200 OK'),
  },
  {
    name: 'query command(beta command)',
    run: (c) =>
      graphql(c, 'query($id: ID!) { command(id: $id) { id } }', { id: ids.beta }, (d) => (d.command === null ? 'null' : isCommandOf('beta')(d.command))),
    expected: cells('200 OK', { alphaOperator: '200 null' }),
  },
  {
    name: 'query commands',
    run: (c) =>
      graphql(c, '{ commands(first: 100) { edges { node { id project { id } } } } }', {}, (d) => {
        const projects = new Set<string>(d.commands.edges.map((e: any) => e.node.project.id));
        return [...projects].sort().join(',');
      }),
    expected: cells('200 alpha,beta', { alphaOperator: '200 alpha' }),
  },
  {
    name: 'query commands(projectId: beta)',
    run: (c) =>
      graphql(c, '{ commands(projectId: "beta", first: 100) { edges { node { id } } } }', {}, (d) =>
        d.commands.edges.some((e: any) => e.node.id === ids.beta) ? 'OK' : `edges ${d.commands.edges.length}`,
      ),
    expected: cells('200 OK', { alphaOperator: '200 edges 0' }),
  },
  {
    name: 'query auditLog',
    run: (c) =>
      graphql(c, '{ auditLog(first: 5) { seq decision caller } }', {}, (d) => (Array.isArray(d.auditLog) && d.auditLog.length > 0 ? 'OK' : JSON.stringify(d))),
    expected: cells(FORBIDDEN_GQL, { admin: '200 OK' }),
  },
  // Mutations.
  ...Object.entries(RUN_MUTATIONS).flatMap(([field, m]) => [
    {
      name: `mutation ${field}(alpha)`,
      run: (c: Credentials) =>
        graphql(c, `mutation($input: ${m.type}!) { ${field}(input: $input) { id kind } }`, { input: m.input('alpha') }, (d) =>
          d[field].kind === m.kind ? isCommandOf('alpha')(d[field]) : JSON.stringify(d),
        ),
      expected: cells('200 OK', RUN_GQL(m.kind)),
    },
    {
      name: `mutation ${field}(beta)`,
      run: (c: Credentials) =>
        graphql(c, `mutation($input: ${m.type}!) { ${field}(input: $input) { id kind } }`, { input: m.input('beta') }, (d) => isCommandOf('beta')(d[field])),
      expected: cells('200 OK', { ...RUN_GQL(m.kind), alphaOperator: '200 NOT_FOUND' }),
    },
  ]),
  {
    name: 'mutation cancelCommand(alpha command)',
    run: (c) =>
      graphql(c, 'mutation($id: ID!) { cancelCommand(id: $id) { id status } }', { id: ids.alpha }, (d) =>
        d.cancelCommand.status === 'SUCCEEDED' ? 'OK' : JSON.stringify(d),
      ),
    expected: cells('200 OK', { viewer: FORBIDDEN_GQL }),
  },
  {
    name: 'mutation cancelCommand(beta command)',
    run: (c) =>
      graphql(c, 'mutation($id: ID!) { cancelCommand(id: $id) { id status } }', { id: ids.beta }, (d) =>
        d.cancelCommand.status === 'SUCCEEDED' ? 'OK' : JSON.stringify(d),
      ),
    expected: cells('200 OK', { viewer: FORBIDDEN_GQL, alphaOperator: '200 NOT_FOUND' }),
  },
  // Subscriptions.
  {
    name: 'subscription commandEvents(alpha command) over graphql-sse',
    run: (c) => commandEventsOverGraphqlSse(c, 'alpha'),
    expected: cells('200 OK', {}, true),
  },
  {
    name: 'subscription commandEvents(beta command) over graphql-sse',
    run: (c) => commandEventsOverGraphqlSse(c, 'beta'),
    expected: cells('200 OK', { alphaOperator: '200 NOT_FOUND' }, true),
  },
  { name: 'subscription projectEvents(alpha) over Yoga SSE', run: (c) => projectEventsOverYogaSse(c, 'alpha'), expected: cells('200 OK', {}, true) },
  {
    name: 'subscription projectEvents(beta) over Yoga SSE',
    run: (c) => projectEventsOverYogaSse(c, 'beta'),
    expected: cells('200 OK', { alphaOperator: '200 NOT_FOUND' }, true),
  },
  // REST.
  {
    name: 'GET /health',
    run: (c) => rest(c, 'GET', '/health', undefined, (d) => (d?.status === 'ok' ? 'OK' : JSON.stringify(d))),
    expected: everyone('200 OK'),
  },
  {
    name: 'GET /ready',
    run: (c) => rest(c, 'GET', '/ready', undefined, (d) => (d?.status === 'ready' ? 'OK' : JSON.stringify(d))),
    expected: everyone('200 OK'),
  },
  {
    name: 'GET /projects',
    run: (c) => rest(c, 'GET', '/projects', undefined, (d) => idList(d)),
    expected: cells(ALL_PROJECTS, { alphaOperator: '200 alpha' }),
  },
  {
    name: 'GET /projects/alpha',
    run: (c) => rest(c, 'GET', '/projects/alpha', undefined, (d) => (d?.id === 'alpha' ? 'OK' : JSON.stringify(d))),
    expected: cells('200 OK'),
  },
  {
    name: 'GET /projects/beta',
    run: (c) => rest(c, 'GET', '/projects/beta', undefined, (d) => (d?.id === 'beta' ? 'OK' : JSON.stringify(d))),
    expected: cells('200 OK', { alphaOperator: '404 NOT_FOUND' }),
  },
  ...Object.entries(REST_BODIES).flatMap(([kind, body]) => [
    {
      name: `POST /projects/alpha/${kind}`,
      run: (c: Credentials) => rest(c, 'POST', `/projects/alpha/${kind}`, body, (d) => (d?.type === kind ? isCommandOf('alpha')(d) : JSON.stringify(d))),
      expected: cells('202 OK', RUN_REST(kind)),
    },
    {
      name: `POST /projects/beta/${kind}`,
      run: (c: Credentials) => rest(c, 'POST', `/projects/beta/${kind}`, body, (d) => isCommandOf('beta')(d)),
      expected: cells('202 OK', { ...RUN_REST(kind), alphaOperator: '404 NOT_FOUND' }),
    },
  ]),
  { name: 'GET /projects/alpha/events?stream_id=…', run: (c) => restCommandEvents(c, 'alpha'), expected: cells('200 OK', {}, true) },
  {
    name: 'GET /projects/beta/events?stream_id=…',
    run: (c) => restCommandEvents(c, 'beta'),
    expected: cells('200 OK', { alphaOperator: '404 NOT_FOUND' }, true),
  },
  { name: 'GET /projects/alpha/events', run: (c) => restProjectEvents(c, 'alpha'), expected: cells('200 OK', {}, true) },
  { name: 'GET /projects/beta/events', run: (c) => restProjectEvents(c, 'beta'), expected: cells('200 OK', { alphaOperator: '404 NOT_FOUND' }, true) },
];

const MATRIX = OPERATIONS.flatMap((op) => CALLERS.map((caller) => ({ op: op.name, caller, run: op.run, expected: op.expected[caller] })));

describe('who may do what', () => {
  it.each(MATRIX)('$op as $caller → $expected', async ({ caller, run, expected }) => {
    expect(await run(credentialsOf(caller))).toBe(expected);
  });
});

describe('credentials', () => {
  it('a 401 says how to authenticate (WWW-Authenticate), on GraphQL and REST alike', async () => {
    for (const route of ['/graphql', '/projects']) {
      const res = await fetch(`${a.url}${route}`, { headers: { accept: 'application/json' } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="rdev-api"');
    }
  });

  it.each([
    ['a Basic header', { authorization: `Basic ${Buffer.from(`admin:${TOKENS.admin}`).toString('base64')}` }],
    ['"Bearer" without a token', { authorization: 'Bearer' }],
    ['the token without "Bearer"', { authorization: TOKENS.admin }],
    ['two tokens', { authorization: `Bearer ${TOKENS.admin} ${TOKENS.admin}` }],
    ['the token with one character less', { authorization: `Bearer ${TOKENS.admin.slice(0, -1)}` }],
    ['the token in another case', { authorization: `Bearer ${TOKENS.admin.toUpperCase()}` }],
    ['the sha256 stored for a token, as the token', { authorization: `Bearer ${TOKENS_YAML.match(/sha256: "([0-9a-f]{64})"/)![1]}` }],
  ])('refuses %s with 401 UNAUTHENTICATED', async (_, headers) => {
    const res = await fetch(`${a.url}/projects`, { headers });
    expect(res.status).toBe(401);
    expect((await res.json()).error.code).toBe('UNAUTHENTICATED');
  });

  it('?access_token= also carries graphql-sse in single-connection mode (reservation, stream and operation)', async () => {
    const client = createClient({ url: `${a.url}/graphql/stream?access_token=${TOKENS.viewer}`, singleConnection: true, retryAttempts: 0 });
    const types: string[] = [];
    try {
      for await (const result of client.iterate({ query: `subscription($id: ID!) { commandEvents(id: $id) { __typename } }`, variables: { id: ids.alpha } })) {
        types.push((result.data as any)?.commandEvents?.__typename ?? JSON.stringify(result));
      }
    } finally {
      client.dispose();
    }
    expect(types).toEqual(['CommandOutput', 'CommandCompleted']);
  });

  it('a wrong Authorization header is not rescued by a valid ?access_token= on an SSE route', async () => {
    const answer = await openSse(`${a.url}/projects/alpha/events?stream_id=${ids.alpha}&access_token=${TOKENS.viewer}`, { headers: bearer(WRONG_TOKEN) });
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe('UNAUTHENTICATED');
  });

  it('a wrong ?access_token= on an SSE route is 401', async () => {
    const answer = await openSse(`${a.url}/projects/alpha/events?stream_id=${ids.alpha}&access_token=${WRONG_TOKEN}`);
    expect(answer.status).toBe(401);
    expect(answer.json.error.code).toBe('UNAUTHENTICATED');
  });

  it('no token, header or query, appears in anything the server logged', () => {
    // Every request of this file went through this app's logger (debug level).
    expect(logLines.length).toBeGreaterThan(0);
    const secrets = [...Object.values(TOKENS), WRONG_TOKEN];
    expect(logLines.filter((line) => secrets.some((s) => line.includes(s)))).toEqual([]);
  });
});
