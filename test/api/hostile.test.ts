import { symlinkSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './client.js';
import { TOKENS, TOKENS_YAML, gqlDataAs } from './auth-fixtures.js';
import { startTestApp, type TestApp } from './harness.js';

/**
 * Hostile input: each case must be answered with a 4xx or a typed GraphQL error (never a 5xx,
 * never "Unexpected error."), and the server must come out of the table alive with the commands
 * it was running untouched.
 */

const MAX_BODY = 65_536;
let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ tokensYaml: TOKENS_YAML, env: { RDEV_MAX_BODY_BYTES: String(MAX_BODY), RDEV_MUTATIONS_PER_MINUTE: '0' } });
});
afterAll(() => t?.close());

/** What came back: the status and the body as text. */
interface Answer {
  status: number;
  text: string;
}

interface SendOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** The bearer token; the admin's unless given (null: none). */
  token?: string | null;
}

async function send(route: string, o: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  // GraphQL over HTTP: with this media type, a request that fails before execution is a 4xx.
  if (route.startsWith('/graphql')) headers.accept = 'application/graphql-response+json, application/json';
  if (o.token !== null) headers.authorization = `Bearer ${o.token ?? TOKENS.admin}`;
  const res = await fetch(`${t.url}${route}`, {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    headers: { ...headers, ...o.headers },
    body: typeof o.body === 'string' || o.body === undefined ? o.body : new Uint8Array(o.body),
  });
  return { status: res.status, text: await res.text() };
}

/** A POST whose body is sent chunked, without Content-Length (fetch always sets one for a known body). */
function sendChunked(route: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${t.url}${route}`);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', authorization: `Bearer ${TOKENS.admin}` },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 5));
    req.end(body.slice(5));
  });
}

/** Writes `raw` (a whole HTTP/1.1 request, maybe malformed) to a socket; the status line's code and the body. */
function sendRaw(raw: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(t.url);
    const socket = connect(Number(url.port), url.hostname, () => socket.end(raw));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    // The body may come chunked: the JSON in it is from its first "{" to its last "}".
    socket.on('close', () =>
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text: text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1) }),
    );
  });
}

const post = (route: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Answer> => send(route, { body, headers });
const gqlBody = (body: unknown): Promise<Answer> => post('/graphql', JSON.stringify(body));
const gql = (query: string, variables?: Record<string, unknown>): Promise<Answer> => gqlBody({ query, variables });

const RUN_SHELL = 'mutation($input: RunShellInput!) { runShell(input: $input) { id status } }';
const RUN_GIT = 'mutation($input: RunGitInput!) { runGit(input: $input) { id status } }';
const RUN_CLAUDE = 'mutation($input: RunClaudeInput!) { runClaude(input: $input) { id status } }';
const shell = (input: Record<string, unknown>) => gql(RUN_SHELL, { input: { projectId: 'alpha', command: 'true', ...input } });
const git = (args: unknown) => gql(RUN_GIT, { input: { projectId: 'alpha', args } });
const claude = (input: Record<string, unknown>) => gql(RUN_CLAUDE, { input: { projectId: 'alpha', prompt: 'hi', ...input } });
const restJson = (route: string, body: unknown) => post(route, JSON.stringify(body));

/** `{ projects { commands { edges { node { project { commands … } } } } } }`, `levels` projects deep. */
function nested(levels: number): string {
  let inner = 'id';
  for (let i = 0; i < levels; i++) inner = `project { commands(first: 1) { edges { node { id ${inner} } } } }`;
  return `{ commands(first: 1) { edges { node { ${inner} } } } }`;
}

/** Invalid UTF-8 spliced into an otherwise valid JSON text, where `@` stands. */
const badUtf8 = (json: string, bytes = [0xff, 0xfe]): Buffer => {
  const [before, after] = json.split('@') as [string, string];
  return Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);
};

type Case = [name: string, status: number, code: string | null, send: () => Promise<Answer>];

const BAD = 'BAD_USER_INPUT';
const PARSE = 'GRAPHQL_PARSE_FAILED';
const INVALID = 'GRAPHQL_VALIDATION_FAILED';
const COMPLEX = 'QUERY_TOO_COMPLEX';

/** Every way into `runGit` that runs a program, rewrites configuration or leaves the workspace. */
const GIT_INJECTIONS: string[][] = [
  ['-c', 'core.pager=evil', 'log'],
  ['-ccore.pager=evil', 'log'],
  ['-c', 'alias.st=!evil', 'st'],
  ['--config-env=core.pager=EVIL', 'log'],
  ['--exec-path=/tmp', 'status'],
  ['--exec-path', 'status'],
  ['-C', '/', 'status'],
  ['--git-dir=/', 'status'],
  ['--work-tree=/', 'status'],
  ['--paginate', 'log'],
  ['-p', 'log'],
  ['status', '--git-dir=/'],
  ['status', '--work-tree=/'],
  ['log', '--exec-path=/tmp'],
  ['status', '--config-env=core.fsmonitor=EVIL'],
  ['fetch', '--upload-pack=evil', 'origin'],
  ['fetch', '--upload-pack', 'evil', 'origin'],
  ['fetch', '--upload-p=evil', 'origin'],
  ['fetch', '--upl=evil', 'origin'],
  ['fetch', '-u', 'evil', 'origin'],
  ['fetch', '-uevil', 'origin'],
  ['fetch', '-qu', 'evil', 'origin'],
  ['pull', '--upload-pack=evil'],
  ['pull', '-u', 'evil'],
  ['push', '--receive-pack=x', 'origin'],
  ['push', '--receive-p=x', 'origin'],
  ['push', '--exec=x', 'origin'],
  ['push', '--exec', 'x', 'origin'],
  ['push', '--e=touch pwned; git-receive-pack', '.', 'HEAD:refs/heads/x'],
  ['rebase', '-x', 'cmd', 'main'],
  ['rebase', '-xcmd', 'main'],
  ['rebase', '--exec=cmd', 'main'],
  ['rebase', '--exec', 'cmd', 'main'],
  ['rebase', '--exe=cmd', 'main'],
  ['rebase', '-ix', 'cmd'],
  ['rebase', '-i', 'main'],
  ['rebase', '--interactive', 'main'],
  ['rebase', '--edit-todo'],
  ['submodule', 'foreach', 'cmd'],
  ['submodule', '--quiet', 'foreach', 'cmd'],
  ['submodule', 'foreach', '--recursive', 'cmd'],
  ['config', 'core.pager', 'evil'],
  ['config', '--add', 'core.pager', 'evil'],
  ['config', '--global', 'core.pager', 'evil'],
  ['config', '--unset', 'user.name'],
  ['config', '--replace-all', 'core.pager', 'evil'],
  ['config', '-e'],
  ['config', 'core.fsmonitor', 'touch pwned', '--get'],
  ['config', 'core.pager', 'evil', '-l'],
  ['config', 'core.editor', 'evil', 'list'],
  ['config', '--file=../outside.cfg', 'a.b', 'c', '--get-regexp'],
  ['log', '--output=/tmp/x'],
  ['log', '--output', '/tmp/x'],
  ['log', '--outp=/tmp/x'],
  ['diff', '--output=/tmp/x'],
  ['show', '--output=/tmp/x'],
  ['grep', '-O', 'x'],
  ['grep', '-Oevil', 'x'],
  ['grep', '-iO', 'x'],
  ['grep', '--open-files-in-pager=evil', 'x'],
  ['grep', '--open-files-in-pager', 'x'],
  ['commit', '--interactive'],
  ['commit', '-p'],
  ['add', '-p'],
  ['add', '--patch'],
  ['add', '-i'],
  ['add', '-e'],
  ['checkout', '-p'],
  ['reset', '--patch'],
  ['restore', '-p'],
  ['stash', '-p'],
  ['clean', '-i'],
  ['log', '--namespace=x'],
  ['difftool'],
  ['mergetool'],
  ['filter-branch'],
  ['help'],
  ['clone', 'https://example.com/x'],
  ['daemon'],
  ['upload-pack', '.'],
  ['archive', '--remote=x', 'HEAD'],
  ['instaweb'],
  ['credential', 'fill'],
  ['!sh'],
  [''],
  ['STATUS'],
  ['status;id'],
];

const CASES: Case[] = [
  // Bodies that are not a GraphQL request.
  ['an unterminated JSON body', 400, 'BAD_REQUEST', () => post('/graphql', '{"query":')],
  ['a JSON body that is a bare string', 400, 'BAD_REQUEST', () => post('/graphql', '"{ projects { id } }"')],
  ['a JSON body that is a number', 400, 'BAD_REQUEST', () => post('/graphql', '123')],
  ['a JSON body that is null', 400, 'BAD_REQUEST', () => post('/graphql', 'null')],
  ['a JSON body that is an array (batching)', 400, 'BAD_REQUEST', () => post('/graphql', '[{"query":"{ projects { id } }"}]')],
  ['an empty body', 400, 'BAD_REQUEST', () => post('/graphql', '')],
  ['a body of whitespace', 400, 'BAD_REQUEST', () => post('/graphql', '   \n')],
  ['a JSON body with trailing garbage', 400, 'BAD_REQUEST', () => post('/graphql', '{"query":"{ projects { id } }"} x')],
  ['a body with a byte-order mark and garbage', 400, 'BAD_REQUEST', () => post('/graphql', Buffer.from([0xef, 0xbb, 0xbf, 0x7b]))],
  ['a JSON object without a query', 400, 'BAD_REQUEST', () => gqlBody({})],
  ['a query that is a number', 400, 'BAD_REQUEST', () => gqlBody({ query: 1 })],
  ['a query that is null', 400, 'BAD_REQUEST', () => gqlBody({ query: null })],
  ['a query that is an object', 400, 'BAD_REQUEST', () => gqlBody({ query: { projects: true } })],
  ['variables that are a string', 400, 'BAD_REQUEST', () => gqlBody({ query: '{ projects { id } }', variables: 'x' })],
  ['variables that are an array', 400, 'BAD_REQUEST', () => gqlBody({ query: '{ projects { id } }', variables: [1] })],
  ['an operationName that is a number', 400, 'OPERATION_RESOLUTION_FAILURE', () => gqlBody({ query: '{ projects { id } }', operationName: 5 })],
  ['extensions that are a string', 400, 'BAD_REQUEST', () => gqlBody({ query: '{ projects { id } }', extensions: 'x' })],
  [
    'a JSON body nested 30,000 arrays deep',
    200,
    null,
    () => post('/graphql', `{"query":"{ projects { id } }","variables":{"x":${'['.repeat(30_000)}${']'.repeat(30_000)}}}`),
  ],
  ['invalid UTF-8 between JSON tokens', 400, BAD, () => post('/graphql', badUtf8('{"query":@"{ projects { id } }"}'))],
  ['invalid UTF-8 inside the query text', 400, BAD, () => post('/graphql', badUtf8('{"query":"{ projects { id@ } }"}'))],
  [
    'invalid UTF-8 inside a variable',
    400,
    BAD,
    () => post('/graphql', badUtf8(`{"query":${JSON.stringify(RUN_SHELL)},"variables":{"input":{"projectId":"alpha","command":"echo @"}}}`)),
  ],
  [
    'a lone continuation byte inside a variable',
    400,
    BAD,
    () => post('/graphql', badUtf8(`{"query":${JSON.stringify(RUN_SHELL)},"variables":{"input":{"projectId":"alpha","command":"echo @"}}}`, [0x80])),
  ],
  [
    'a surrogate half encoded as UTF-8 inside a variable',
    400,
    BAD,
    () =>
      post('/graphql', badUtf8(`{"query":${JSON.stringify(RUN_SHELL)},"variables":{"input":{"projectId":"alpha","command":"echo @"}}}`, [0xed, 0xa0, 0x80])),
  ],

  // GraphQL syntax.
  ['an empty query', 400, PARSE, () => gql('')],
  ['an unclosed selection', 400, PARSE, () => gql('{ projects { id }')],
  ['a lone brace', 400, PARSE, () => gql('}')],
  ['an extra closing brace', 400, PARSE, () => gql('{ projects { id } } }')],
  ['a variable without a type', 400, PARSE, () => gql('query($x: ) { projects { id } }')],
  ['an argument without a value', 400, PARSE, () => gql('{ project(id: ) { id } }')],
  ['an unterminated string', 400, PARSE, () => gql('{ project(id: "alpha) { id } }')],
  ['a NUL character in the document', 400, PARSE, () => gql('{ projects\u0000 { id } }')],
  ['an unknown keyword', 400, PARSE, () => gql('querry { projects { id } }')],
  ['a fragment named "on"', 400, PARSE, () => gql('fragment on on on { id }')],
  ['selections nested 12,000 braces deep', 400, 'QUERY_TOO_COMPLEX', () => gql(`${'{ a '.repeat(12_000)}${'}'.repeat(12_000)}`)],
  ['a list value nested 20,000 deep', 400, 'QUERY_TOO_COMPLEX', () => gql(`{ project(id: ${'['.repeat(20_000)}${']'.repeat(20_000)}) { id } }`)],
  ['an object value nested 10,000 deep', 400, 'QUERY_TOO_COMPLEX', () => gql(`{ project(id: ${'{a:'.repeat(10_000)}1${'}'.repeat(10_000)}) { id } }`)],

  // Validation.
  ['an unknown field', 400, INVALID, () => gql('{ nope }')],
  ['an unknown field of Project', 400, INVALID, () => gql('{ projects { id secrets } }')],
  ['an unknown argument', 400, INVALID, () => gql('{ projects(all: true) { id } }')],
  ['a missing required argument', 400, INVALID, () => gql('{ project { id } }')],
  ['a Boolean for an ID', 400, INVALID, () => gql('{ project(id: true) { id } }')],
  ['a string for an Int argument', 400, INVALID, () => gql('{ commands(first: "10") { edges { cursor } } }')],
  ['an unknown enum value', 400, INVALID, () => gql('{ commands(status: EXPLODED) { edges { cursor } } }')],
  ['an object type without a selection', 400, INVALID, () => gql('{ projects }')],
  ['a selection on a scalar', 400, INVALID, () => gql('{ projects { id { x } } }')],
  ['an undefined variable', 400, INVALID, () => gql('{ project(id: $id) { id } }')],
  ['an unused variable', 400, INVALID, () => gql('query($x: Int) { projects { id } }', { x: 1 })],
  ['a variable of an output type', 400, INVALID, () => gql('query($x: Project) { projects { id } }')],
  ['a fragment cycle', 400, INVALID, () => gql('query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }')],
  ['a fragment on an unknown type', 400, INVALID, () => gql('query { ...A } fragment A on Nope { id }')],
  ['an unknown directive', 400, INVALID, () => gql('{ projects @evil { id } }')],
  ['@skip with a string', 400, INVALID, () => gql('{ projects @skip(if: "yes") { id } }')],
  ['two operations and no operationName', 400, 'OPERATION_RESOLUTION_FAILURE', () => gql('query A { projects { id } } query B { projects { id } }')],
  [
    'an operationName that is not in the document',
    400,
    'OPERATION_RESOLUTION_FAILURE',
    () => gqlBody({ query: 'query A { projects { id } }', operationName: 'B' }),
  ],
  ['two operations with the same name', 400, 'OPERATION_RESOLUTION_FAILURE', () => gql('query A { projects { id } } query A { projects { status } }')],
  [
    'a subscription with two root fields',
    400,
    INVALID,
    () => gql('subscription { a: projectEvents(projectId: "alpha") { __typename } b: projectEvents(projectId: "beta") { __typename } }'),
  ],
  ['a mutation field in a query', 400, INVALID, () => gql('{ runShell(input: { projectId: "alpha", command: "true" }) { id } }')],
  ['an input field that does not exist', 400, INVALID, () => gql('mutation { runShell(input: { projectId: "alpha", command: "true", asRoot: true }) { id } }')],

  // Variables of the wrong type.
  ['a number for a String! variable', 400, BAD, () => shell({ command: 123 })],
  ['null for a String! field', 400, BAD, () => shell({ command: null })],
  ['an object for a String! field', 400, BAD, () => shell({ command: { $ne: '' } })],
  ['an array for a String! field', 400, BAD, () => shell({ command: ['rm', '-rf', '/'] })],
  ['a missing required input field', 400, BAD, () => gql(RUN_SHELL, { input: { projectId: 'alpha' } })],
  ['a missing input', 400, BAD, () => gql(RUN_SHELL, {})],
  ['an input that is a string', 400, BAD, () => gql(RUN_SHELL, { input: 'projectId=alpha' })],
  ['an unknown input field in the variables', 400, BAD, () => shell({ asRoot: true })],
  [
    'a "__proto__" input field',
    400,
    BAD,
    () =>
      post('/graphql', `{"query":${JSON.stringify(RUN_SHELL)},"variables":{"input":{"projectId":"alpha","command":"true","__proto__":{"workdir":"/etc"}}}}`),
  ],
  ['a Boolean for an ID! variable', 400, BAD, () => gql('query($id: ID!) { project(id: $id) { id } }', { id: true })],
  ['a float for an ID! variable', 400, BAD, () => gql('query($id: ID!) { project(id: $id) { id } }', { id: 1.5 })],
  ['numbers in a [String!]! variable', 400, BAD, () => git([1, 2])],
  ['null in a [String!]! variable', 400, BAD, () => git(['status', null])],
  ['an object for a [String!]! variable', 400, BAD, () => git({ 0: 'status' })],
  ['a string for an Int variable', 400, BAD, () => gql('query($n: Int) { commands(first: $n) { edges { cursor } } }', { n: '10' })],
  ['an unknown enum value in a variable', 400, BAD, () => gql('query($s: CommandStatus) { commands(status: $s) { edges { cursor } } }', { s: 'EXPLODED' })],
  ['a Boolean for continueSession given as a string', 400, BAD, () => claude({ continueSession: 'yes' })],

  // timeoutSeconds.
  ['timeoutSeconds -1', 200, BAD, () => shell({ timeoutSeconds: -1 })],
  ['timeoutSeconds 0', 200, BAD, () => shell({ timeoutSeconds: 0 })],
  ['timeoutSeconds 1.5', 400, BAD, () => shell({ timeoutSeconds: 1.5 })],
  ['timeoutSeconds 2^31 (past Int)', 400, BAD, () => shell({ timeoutSeconds: 2 ** 31 })],
  ['timeoutSeconds 1e100', 400, BAD, () => shell({ timeoutSeconds: 1e100 })],
  ['timeoutSeconds past RDEV_MAX_TIMEOUT_SECONDS', 200, BAD, () => shell({ timeoutSeconds: 21_601 })],
  ['timeoutSeconds 2^31-1', 200, BAD, () => shell({ timeoutSeconds: 2 ** 31 - 1 })],
  ['timeoutSeconds as a string', 400, BAD, () => shell({ timeoutSeconds: '5' })],
  ['timeoutSeconds -2^31 on runGit', 200, BAD, () => gql(RUN_GIT, { input: { projectId: 'alpha', args: ['status'], timeoutSeconds: -(2 ** 31) } })],
  ['timeoutSeconds 0 on runClaude', 200, BAD, () => claude({ timeoutSeconds: 0 })],

  // NUL bytes and very long strings.
  ['a NUL byte in a shell command', 200, BAD, () => shell({ command: 'echo a\u0000b' })],
  ['a NUL byte in a git argument', 200, BAD, () => git(['log', '--format=%s\u0000'])],
  ['a NUL byte in a prompt', 200, BAD, () => claude({ prompt: 'hi\u0000there' })],
  ['a NUL byte in a workdir', 200, BAD, () => shell({ workdir: 'sub\u0000/../..' })],
  ['a NUL byte in an idempotency key', 200, BAD, () => shell({ idempotencyKey: 'k\u0000' })],
  ['a NUL byte in an allowed tool', 200, BAD, () => claude({ allowedTools: ['Bash\u0000'] })],
  ['a NUL byte in a project id', 200, 'NOT_FOUND', () => shell({ projectId: 'alpha\u0000' })],
  ['an empty shell command', 200, BAD, () => shell({ command: '' })],
  ['an empty prompt', 200, BAD, () => claude({ prompt: '' })],
  ['an empty project id', 200, BAD, () => shell({ projectId: '' })],
  ['a project id of 300 characters', 200, BAD, () => shell({ projectId: 'p'.repeat(300) })],
  ['an idempotency key of 201 characters', 200, BAD, () => shell({ idempotencyKey: 'k'.repeat(201) })],
  ['a workdir of 5,000 characters', 200, BAD, () => shell({ workdir: 'd/'.repeat(2_500) })],
  ['a git argument of 10,001 characters', 200, BAD, () => git(['log', 'x'.repeat(10_001)])],
  ['1,001 git arguments', 200, BAD, () => git(['log', ...Array.from({ length: 1_000 }, () => '-q')])],
  ['an empty git argument list', 200, BAD, () => git([])],
  ['a model name with a space', 200, BAD, () => claude({ model: 'opus --dangerously-skip-permissions' })],
  ['a model name of 200 characters', 200, BAD, () => claude({ model: 'm'.repeat(200) })],
  ['a session id with a slash', 200, BAD, () => claude({ sessionId: '../../etc/passwd' })],
  ['a session id that is an option', 200, BAD, () => claude({ sessionId: '--dangerously-skip-permissions x' })],
  ['an allowed tool that is an option', 200, BAD, () => claude({ allowedTools: ['--dangerously-skip-permissions'] })],
  ['101 allowed tools', 200, BAD, () => claude({ allowedTools: Array.from({ length: 101 }, (_, i) => `Tool${i}`) })],
  ['an empty allowed tool', 200, BAD, () => claude({ allowedTools: [''] })],
  ['maxTurns 0', 200, BAD, () => claude({ maxTurns: 0 })],
  ['maxTurns 1,001', 200, BAD, () => claude({ maxTurns: 1_001 })],
  ['sessionId and continueSession together', 200, BAD, () => claude({ sessionId: 'abc', continueSession: true })],
  ['an unknown permission mode', 400, BAD, () => claude({ permissionMode: 'YOLO' })],

  // Paging and other arguments.
  ['commands(first: -1)', 200, BAD, () => gql('{ commands(first: -1) { edges { cursor } } }')],
  ['commands(first: 101)', 200, BAD, () => gql('{ commands(first: 101) { edges { cursor } } }')],
  ['commands(after: a cursor not made here)', 200, BAD, () => gql('{ commands(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }')],
  [
    'commands(after: a cursor of 20 digits)',
    200,
    BAD,
    () => gql(`{ commands(after: "${Buffer.from(`cmd:${'9'.repeat(20)}`).toString('base64url')}") { edges { cursor } } }`),
  ],
  ['auditLog(first: 0)', 200, BAD, () => gql('{ auditLog(first: 0) { seq } }')],
  ['auditLog(first: 1001)', 200, BAD, () => gql('{ auditLog(first: 1001) { seq } }')],
  ['command output(first: -1)', 200, BAD, () => gql('{ commands(first: 1) { edges { node { output(first: -1) { text } } } } }')],
  ['command output(after: -5)', 200, BAD, () => gql('{ commands(first: 1) { edges { node { output(after: -5) { text } } } } }')],

  // Unknown ids.
  ['runShell in an unknown project', 200, 'NOT_FOUND', () => shell({ projectId: 'nope' })],
  ['runShell in a project id with a path', 200, 'NOT_FOUND', () => shell({ projectId: '../beta' })],
  ['runShell in a project that cannot run commands', 200, 'PROJECT_NOT_READY', () => shell({ projectId: 'gone' })],
  ['runGit in an unknown project', 200, 'NOT_FOUND', () => gql(RUN_GIT, { input: { projectId: 'nope', args: ['status'] } })],
  ['cancelCommand of an unknown command', 200, 'NOT_FOUND', () => gql('mutation { cancelCommand(id: "cmd-alpha-zzzz") { id } }')],
  [
    'cancelCommand of an id of 10,000 characters',
    200,
    'NOT_FOUND',
    () => gql('mutation($id: ID!) { cancelCommand(id: $id) { id } }', { id: 'x'.repeat(10_000) }),
  ],
  ['commandEvents of an unknown command', 200, 'NOT_FOUND', () => gql('subscription { commandEvents(id: "nope") { __typename } }')],
  ['commandEvents(after: -1)', 200, BAD, () => gql('subscription { commandEvents(id: "nope", after: -1) { __typename } }')],
  ['projectEvents of an unknown project', 200, 'NOT_FOUND', () => gql('subscription { projectEvents(projectId: "nope") { __typename } }')],

  // Depth and cost.
  ['a query 13 levels deep', 400, COMPLEX, () => gql(nested(3))],
  ['a query 40 levels deep', 400, COMPLEX, () => gql(nested(10))],
  [
    'a query nested deep through fragments',
    400,
    COMPLEX,
    () =>
      gql(
        `{ projects { ...F0 } } ${Array.from(
          { length: 6 },
          (_, i) => `fragment F${i} on Project { commands(first: 1) { edges { node { project { ${i < 5 ? `...F${i + 1}` : 'id'} } } } } }`,
        ).join(' ')}`,
      ),
  ],
  ['introspection 20 levels deep', 400, INVALID, () => gql(`{ __schema { types { ${'fields { type { '.repeat(9)}name${' } }'.repeat(9)} } } }`)],
  [
    '500 aliases of commands',
    400,
    COMPLEX,
    () => gql(`{ ${Array.from({ length: 500 }, (_, i) => `a${i}: commands(first: 100) { edges { node { id } } }`).join(' ')} }`),
  ],
  ['5,000 copies of one field', 400, COMPLEX, () => gql(`{ projects { ${'id '.repeat(5_000)}} }`)],
  [
    'every command with its whole output, 100 at a time',
    400,
    COMPLEX,
    () => gql('{ commands(first: 100) { edges { node { output { seq text at stream } project { commands(first: 100) { edges { node { id } } } } } } } }'),
  ],
  ['a fragment spread 1,000 times', 400, COMPLEX, () => gql(`{ ${'...P '.repeat(1_000)}} fragment P on Query { projects { id status workspace } }`)],
  // Command.output holds up to 10,000 events: 100 commands' outputs are a million (issue 11).
  [
    'every command with its output, 100 at a time, output without first',
    400,
    COMPLEX,
    () => gql('{ commands(first: 100) { edges { node { output { text } } } } }'),
  ],
  ['the same with first in a variable', 400, COMPLEX, () => gql('query($n: Int) { commands(first: $n) { edges { node { output { text } } } } }', { n: 100 })],
  [
    'the same document with a small first, then first: 100 (a cached validation must not let it through)',
    400,
    COMPLEX,
    async () => {
      const query = 'query($n: Int) { commands(first: $n) { edges { node { output(first: 9999) { seq } } } } }';
      const small = await gql(query, { n: 1 });
      if (small.status !== 200 || small.text.includes('errors')) return small;
      return gql(query, { n: 100 });
    },
  ],
  [
    'output events through a fragment 100 commands wide',
    400,
    COMPLEX,
    () => gql('query($n: Int = 100) { ...C } fragment C on Query { commands(first: $n) { edges { node { output { text } } } } }'),
  ],

  // Size.
  ['a document over RDEV_MAX_BODY_BYTES', 413, 'PAYLOAD_TOO_LARGE', () => gql(`{ projects { id } } # ${'x'.repeat(MAX_BODY)}`)],
  ['a command over RDEV_MAX_BODY_BYTES', 413, 'PAYLOAD_TOO_LARGE', () => shell({ command: 'x'.repeat(MAX_BODY + 1) })],
  ['a 1 MiB prompt', 413, 'PAYLOAD_TOO_LARGE', () => claude({ prompt: 'p'.repeat(1024 * 1024) })],
  ['an Authorization header of 20,000 characters', 431, null, () => send('/graphql', { headers: { authorization: `Bearer ${'a'.repeat(20_000)}` } })],
  ['a URL of 20,000 characters', 431, null, () => send(`/projects/${'a'.repeat(20_000)}`)],

  // Media types, lengths and methods.
  ['a text/plain POST', 415, 'UNSUPPORTED_MEDIA_TYPE', () => post('/graphql', '{"query":"{ projects { id } }"}', { 'content-type': 'text/plain' })],
  [
    'a form-urlencoded POST',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    () => post('/graphql', 'query=%7B+projects+%7B+id+%7D+%7D', { 'content-type': 'application/x-www-form-urlencoded' }),
  ],
  ['a multipart POST', 415, 'UNSUPPORTED_MEDIA_TYPE', () => post('/graphql', '--b\r\n\r\n--b--', { 'content-type': 'multipart/form-data; boundary=b' })],
  ['a POST with application/graphql', 415, 'UNSUPPORTED_MEDIA_TYPE', () => post('/graphql', '{ projects { id } }', { 'content-type': 'application/graphql' })],
  [
    'a POST with "application/jsonx"',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    () => post('/graphql', '{"query":"{ projects { id } }"}', { 'content-type': 'application/jsonx' }),
  ],
  ['a POST with an empty content type', 415, 'UNSUPPORTED_MEDIA_TYPE', () => post('/graphql', '{"query":"{ projects { id } }"}', { 'content-type': '' })],
  [
    'a POST without a content type',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    () => sendRaw(`POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKENS.admin}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`),
  ],
  ['a chunked POST to /graphql (no Content-Length)', 411, 'LENGTH_REQUIRED', () => sendChunked('/graphql', '{"query":"{ projects { id } }"}')],
  ['a chunked POST to a REST route (no Content-Length)', 411, 'LENGTH_REQUIRED', () => sendChunked('/projects/alpha/shell', '{"command":"true"}')],
  [
    'a mutation over GET',
    405,
    'BAD_REQUEST',
    () => send(`/graphql?query=${encodeURIComponent('mutation { runShell(input: { projectId: "alpha", command: "true" }) { id } }')}`),
  ],
  ['a GET with variables that are not JSON', 400, 'BAD_REQUEST', () => send(`/graphql?query=${encodeURIComponent('{ projects { id } }')}&variables=%7Bx`)],
  ['a GET with an empty query', 400, 'BAD_REQUEST', () => send('/graphql?query=')],
  ['a PUT to /graphql', 405, 'BAD_REQUEST', () => send('/graphql', { method: 'PUT', body: '{"query":"{ projects { id } }"}' })],
  ['a DELETE to /graphql', 405, 'BAD_REQUEST', () => send('/graphql', { method: 'DELETE' })],
  ['a request that is not HTTP', 400, null, () => sendRaw('HELLO\r\n\r\n')],
  [
    'a negative Content-Length',
    400,
    null,
    () => sendRaw(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`),
  ],
  [
    'Content-Length and Transfer-Encoding together',
    400,
    null,
    () => sendRaw(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`),
  ],
  [
    'two different Content-Lengths',
    400,
    null,
    () => sendRaw(`POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`),
  ],

  // Authentication.
  ['no token', 401, 'UNAUTHENTICATED', () => send('/graphql', { body: '{"query":"{ projects { id } }"}', token: null })],
  ['a token with a newline folded in', 401, 'UNAUTHENTICATED', () => send('/projects', { headers: { authorization: `Bearer ${TOKENS.admin} x` } })],
  ['a token of 4,000 characters', 401, 'UNAUTHENTICATED', () => send('/projects', { token: 't'.repeat(4_000) })],
  [
    'a token in non-ASCII',
    401,
    'UNAUTHENTICATED',
    () =>
      send('/projects', {
        headers: { authorization: 'Bearer \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9' },
      }),
  ],

  // REST bodies.
  ['REST: not JSON', 400, BAD, () => post('/projects/alpha/shell', '{"command":')],
  ['REST: a JSON array', 400, BAD, () => post('/projects/alpha/shell', '["true"]')],
  ['REST: JSON null', 400, BAD, () => post('/projects/alpha/shell', 'null')],
  ['REST: an empty body', 400, BAD, () => post('/projects/alpha/shell', '')],
  ['REST: invalid UTF-8 between tokens', 400, BAD, () => post('/projects/alpha/shell', badUtf8('{"command":@"true"}'))],
  ['REST: invalid UTF-8 inside the command', 400, BAD, () => post('/projects/alpha/shell', badUtf8('{"command":"echo @"}'))],
  ['REST: invalid UTF-8 inside a git argument', 400, BAD, () => post('/projects/alpha/git', badUtf8('{"args":["log","@"]}'))],
  ['REST: invalid UTF-8 inside a prompt', 400, BAD, () => post('/projects/alpha/claude', badUtf8('{"prompt":"hi @"}'))],
  ['REST: a command that is an object', 400, BAD, () => restJson('/projects/alpha/shell', { command: { $gt: '' } })],
  ['REST: a "__proto__" field', 400, BAD, () => post('/projects/alpha/shell', '{"command":"true","__proto__":{"workdir":"/etc"}}')],
  ['REST: a "constructor" field', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', constructor: { prototype: {} } })],
  ['REST: the GraphQL spelling timeoutSeconds', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', timeoutSeconds: 5 })],
  ['REST: a NUL byte in the command', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'echo \u0000' })],
  ['REST: a NUL byte in a git argument', 400, BAD, () => restJson('/projects/alpha/git', { args: ['status', '\u0000'] })],
  ['REST: a NUL byte in the prompt', 400, BAD, () => restJson('/projects/alpha/claude', { prompt: '\u0000' })],
  ['REST: a NUL byte in the workdir', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', workdir: '\u0000' })],
  ['REST: timeout_seconds -1', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', timeout_seconds: -1 })],
  ['REST: timeout_seconds 1.5', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', timeout_seconds: 1.5 })],
  ['REST: timeout_seconds 1e308', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', timeout_seconds: 1e308 })],
  ['REST: timeout_seconds 2^53', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', timeout_seconds: 2 ** 53 })],
  ['REST: timeout_seconds as a string', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', timeout_seconds: '5' })],
  ['REST: an empty args list', 400, BAD, () => restJson('/projects/alpha/git', { args: [] })],
  ['REST: args as a string', 400, BAD, () => restJson('/projects/alpha/git', { args: 'status' })],
  [
    'REST: session_id and continue_session together',
    400,
    BAD,
    () => restJson('/projects/alpha/claude', { prompt: 'hi', session_id: 'abc', continue_session: true }),
  ],
  ['REST: a permission mode not offered', 400, BAD, () => restJson('/projects/alpha/claude', { prompt: 'hi', permission_mode: 'yolo' })],
  ['REST: a body over RDEV_MAX_BODY_BYTES', 413, 'PAYLOAD_TOO_LARGE', () => restJson('/projects/alpha/shell', { command: 'x'.repeat(MAX_BODY) })],
  [
    'REST: a git body over RDEV_MAX_BODY_BYTES',
    413,
    'PAYLOAD_TOO_LARGE',
    () => restJson('/projects/alpha/git', { args: ['log', ...Array.from({ length: 900 }, () => 'y'.repeat(80))] }),
  ],
  ['REST: a 1 MiB prompt', 413, 'PAYLOAD_TOO_LARGE', () => restJson('/projects/alpha/claude', { prompt: 'p'.repeat(1024 * 1024) })],
  ['REST: a text/plain POST', 415, 'UNSUPPORTED_MEDIA_TYPE', () => post('/projects/alpha/shell', '{"command":"true"}', { 'content-type': 'text/plain' })],
  [
    'REST: a form-urlencoded POST',
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    () => post('/projects/alpha/shell', 'command=true', { 'content-type': 'application/x-www-form-urlencoded' }),
  ],
  ['REST: a GET of a POST route', 405, 'METHOD_NOT_ALLOWED', () => send('/projects/alpha/shell')],
  ['REST: a DELETE of a project', 405, 'METHOD_NOT_ALLOWED', () => send('/projects/alpha', { method: 'DELETE' })],
  ['REST: a PUT of a run route', 405, 'METHOD_NOT_ALLOWED', () => send('/projects/alpha/shell', { method: 'PUT', body: '{"command":"true"}' })],
  ['REST: an unknown route', 404, 'NOT_FOUND', () => send('/projects/alpha/exec')],
  ['REST: an unknown project', 404, 'NOT_FOUND', () => send('/projects/nope')],
  ['REST: a run in an unknown project', 404, 'NOT_FOUND', () => restJson('/projects/nope/shell', { command: 'true' })],
  ['REST: a run in a project that cannot run commands', 409, 'PROJECT_NOT_READY', () => restJson('/projects/gone/shell', { command: 'true' })],
  ['REST: an encoded path in the project id', 404, 'NOT_FOUND', () => send('/projects/..%2F..%2Fetc')],
  ['REST: a run in an encoded path', 404, 'NOT_FOUND', () => restJson('/projects/..%2Fbeta/shell', { command: 'true' })],
  ['REST: an encoded NUL in the project id', 404, 'NOT_FOUND', () => send('/projects/alpha%00')],
  ['REST: a malformed percent-encoding in the project id', 400, BAD, () => send('/projects/%ZZ')],
  ['REST: a truncated UTF-8 percent-encoding in the project id', 400, BAD, () => send('/projects/%E0%A4%A')],
  ['REST: encoded invalid UTF-8 in the project id', 400, BAD, () => send('/projects/%FF%FE/events?stream_id=x')],
  ['REST: events of an unknown command', 404, 'NOT_FOUND', () => send('/projects/alpha/events?stream_id=nope')],
  ['REST: events of an empty stream_id', 404, 'NOT_FOUND', () => send('/projects/alpha/events?stream_id=')],
  ['REST: events of an unknown project', 404, 'NOT_FOUND', () => send('/projects/nope/events')],
  [
    'REST: events with a Last-Event-ID not made here',
    400,
    BAD,
    () => send(`/projects/alpha/events?stream_id=${before.done}`, { headers: { 'last-event-id': '../../x' } }),
  ],
  ['REST: events of a command under another project', 404, 'NOT_FOUND', () => send(`/projects/beta/events?stream_id=${before.done}`)],

  // Workdir escapes (the symlink is its own test below: the kube backend refuses it later).
  ...['..', '../x', '/etc', 'sub/../../x', '../../../../../../etc', './..', 'a/b/../../..', '//etc', '/'].map((workdir): Case => [
    `workdir ${JSON.stringify(workdir)}`,
    200,
    BAD,
    () => shell({ workdir }),
  ]),
  ['REST: workdir ".."', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', workdir: '..' })],
  ['REST: workdir "/etc"', 400, BAD, () => restJson('/projects/alpha/shell', { command: 'true', workdir: '/etc' })],

  // git.
  ...GIT_INJECTIONS.map((args): Case => [`runGit ${JSON.stringify(args)}`, 200, BAD, () => git(args)]),
  ['REST: git -c before the subcommand', 400, BAD, () => restJson('/projects/alpha/git', { args: ['-c', 'core.pager=evil', 'log'] })],
  ['REST: git fetch --upload-pack', 400, BAD, () => restJson('/projects/alpha/git', { args: ['fetch', '--upload-pack=evil'] })],
  ['REST: git rebase --exec', 400, BAD, () => restJson('/projects/alpha/git', { args: ['rebase', '--exec=cmd', 'main'] })],
  ['REST: git config write', 400, BAD, () => restJson('/projects/alpha/git', { args: ['config', 'core.pager', 'evil'] })],
  ['REST: git difftool', 400, BAD, () => restJson('/projects/alpha/git', { args: ['difftool'] })],
];

/** Commands started before the table, and how they stood. */
const before = { done: '', git: '', sleeping: '' };
const snapshot: Record<string, unknown> = {};

const COMMAND = `query($id: ID!) { command(id: $id) { id status exitCode argv output { stream text } } }`;
const admin = <T = Record<string, any>>(query: string, variables: Record<string, unknown> = {}) => gqlDataAs<T>(t.url, TOKENS.admin, query, variables);
const run = async (mutation: string, input: Record<string, unknown>): Promise<string> => Object.values(await admin(mutation, { input }))[0].id;
const commandOf = async (id: string) => (await admin(COMMAND, { id })).command;

/** The parts of an answer the table checks: the status, and the error code of a GraphQL or REST error body. */
function codeOf(answer: Answer): string | null {
  try {
    const body = JSON.parse(answer.text);
    return body?.errors?.[0]?.extensions?.code ?? body?.error?.code ?? null;
  } catch {
    return null;
  }
}

describe('hostile input', () => {
  beforeAll(async () => {
    before.done = await run(RUN_SHELL, { projectId: 'alpha', command: 'echo one; echo two >&2; exit 3' });
    before.git = await run(RUN_GIT, { projectId: 'alpha', args: ['log', '--format=%s'] });
    before.sleeping = await run(RUN_SHELL, { projectId: 'beta', command: 'echo started; sleep 120' });
    await until(
      async () => (await commandOf(before.done)).status === 'FAILED' && (await commandOf(before.git)).status === 'SUCCEEDED',
      20_000,
      'the first commands to finish',
    );
    await until(async () => (await commandOf(before.sleeping)).output.length > 0, 20_000, 'the sleeping command to start');
    for (const id of Object.values(before)) snapshot[id] = await commandOf(id);
  });

  it.each(CASES)('%s → %i %s', async (_, status, code, sendCase) => {
    const answer = await sendCase();
    expect(answer.text, answer.text.slice(0, 500)).not.toContain('Unexpected error');
    expect({ status: answer.status, code: codeOf(answer) }, answer.text.slice(0, 500)).toEqual({ status, code });
  });

  it('is alive afterwards: /health answers and a new command runs', async () => {
    expect((await send('/health', { token: null })).status).toBe(200);
    const id = await run(RUN_SHELL, { projectId: 'alpha', command: 'echo after' });
    await until(async () => (await commandOf(id)).status === 'SUCCEEDED', 20_000, 'the new command');
    expect((await commandOf(id)).output).toEqual([{ stream: 'STDOUT', text: 'after\n' }]);
  });

  it('left the commands started before it as they were, the sleeping one still running', async () => {
    for (const id of Object.values(before)) expect(await commandOf(id)).toEqual(snapshot[id]);
    expect(snapshot[before.sleeping]).toMatchObject({ status: 'RUNNING', output: [{ stream: 'STDOUT', text: 'started\n' }] });
    expect(snapshot[before.done]).toMatchObject({ status: 'FAILED', exitCode: 3 });
    expect(snapshot[before.git]).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, output: [{ stream: 'STDOUT', text: 'init\n' }] });
    await admin('mutation($id: ID!) { cancelCommand(id: $id) { id } }', { id: before.sleeping });
    await until(async () => (await commandOf(before.sleeping)).status === 'CANCELED', 20_000, 'the sleeping command to stop');
  });
});

/**
 * A workdir that passes the lexical check but not the filesystem: both backends answer the same
 * way, as only the workspace can follow its links (a pod's, for kube): the command is accepted and
 * ends FAILED with exit 125 before running anything, its reason on stderr.
 */
describe('a workdir that only the filesystem can refuse', () => {
  const ranAndFailed = async (workdir: string): Promise<{ status: string; exitCode: number; output: string }> => {
    const answer = await shell({ workdir, command: 'ls; echo ran' });
    expect(answer.status, answer.text).toBe(200);
    const id = JSON.parse(answer.text).data.runShell.id;
    await until(async () => !['QUEUED', 'RUNNING'].includes((await commandOf(id)).status), 20_000, 'the command to end');
    const command = await commandOf(id);
    return { status: command.status, exitCode: command.exitCode, output: command.output.map((o: { text: string }) => o.text).join('') };
  };

  it('a symlink out of the workspace: FAILED with exit 125, saying so, nothing run', async () => {
    symlinkSync('/etc', path.join(t.projectDirs.alpha, 'escape'));
    expect(await ranAndFailed('escape')).toEqual({
      status: 'FAILED',
      exitCode: 125,
      output: expect.stringMatching(/^rdev: \S*escape leads outside the workspace \S+\n$/),
    });
  });

  it('a directory that does not exist: FAILED with exit 125, saying so', async () => {
    expect(await ranAndFailed('no/such/dir')).toEqual({
      status: 'FAILED',
      exitCode: 125,
      output: expect.stringMatching(/^rdev: cannot enter \S*no\/such\/dir\n$/),
    });
  });
});
