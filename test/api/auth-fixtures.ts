import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { until, type GqlResult } from './client.js';
import type { TestApp } from './harness.js';

/** The tokens of the fixture, by who holds them (each at least 16 characters, as the tokens file requires). */
export const TOKENS = {
  viewer: 'viewer-7d1f0c2a9b8e4f63',
  operator: 'operator-5a0e9c3b1d7f2846',
  admin: 'admin-c4b8e2f6a1d09375aa',
  alphaOperator: 'alpha-op-9e3d7b1f5c2a8064',
  gitOperator: 'git-op-2f6a0d4c8e1b7953aa',
} as const;

/** A well-formed token that is in no tokens file. */
export const WRONG_TOKEN = 'wrong-0d9c8b7a6f5e4d3c2b1a';

// Hashed here rather than with src/auth/tokens.ts, so the fixture does not trust the code it tests.
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * A tokens file with both spellings: viewer, admin and the git operator are given as `token`,
 * the operator and the alpha operator as `sha256`.
 */
export const TOKENS_YAML = `tokens:
  - { name: viewer, token: "${TOKENS.viewer}", role: viewer }
  - { name: operator, sha256: "${sha256(TOKENS.operator)}", role: operator }
  - { name: admin, token: "${TOKENS.admin}", role: admin }
  - { name: alpha-operator, sha256: "${sha256(TOKENS.alphaOperator)}", role: operator, projects: [alpha] }
  - { name: git-operator, token: "${TOKENS.gitOperator}", role: operator, kinds: [GIT] }
`;

/** `Authorization: Bearer <token>`, or nothing. */
export function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** One GraphQL POST with a token; the HTTP status and the parsed body. */
export async function gqlAs<T = Record<string, any>>(
  url: string,
  token: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
  search = '',
): Promise<{ status: number; body: GqlResult<T> }> {
  const res = await fetch(`${url}/graphql${search}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...bearer(token) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, body: (await res.json()) as GqlResult<T> };
}

/** Like {@link gqlAs}, but fails unless there are no errors; returns `data`. */
export async function gqlDataAs<T = Record<string, any>>(url: string, token: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const { status, body } = await gqlAs<T>(url, token, query, variables);
  if (status !== 200 || body.errors?.length) throw new Error(`GraphQL ${status}: ${JSON.stringify(body)}`);
  return body.data as T;
}

/** One REST request with a token; the HTTP status and the parsed JSON body (null when there is none). */
export async function restAs(url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...bearer(token) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? null : JSON.parse(text) };
}

/** A second app on the backend of a {@link TestApp}, built with a logger that writes to `lines`. */
export interface LoggedApp {
  url: string;
  app: App;
  server: Server;
  close(): Promise<void>;
}

/**
 * Builds an app as the harness does, on the same backend as `t` (its project directories, or
 * its Kubernetes API test server), but with `deps.logger` writing every debug line to `lines`:
 * the harness cannot pass deps, and what the server logs is what these tests look at.
 */
export async function startLoggedApp(t: TestApp, env: Record<string, string>, lines: string[]): Promise<LoggedApp> {
  const root = mkdtempSync(path.join(tmpdir(), 'rdev-api-logged-'));
  let backend: Record<string, string>;
  if (t.kube) {
    backend = {
      RDEV_BACKEND: 'kube',
      KUBECONFIG: t.kube.kubeconfigPath,
      RDEV_WORKSPACE: t.kube.workspaceMounted ? '/workspace' : path.dirname(path.dirname(t.projectDirs.alpha)),
    };
  } else {
    const projectsFile = path.join(root, 'projects.yaml');
    const list = [
      ['alpha', t.projectDirs.alpha],
      ['beta', t.projectDirs.beta],
      ['gone', path.join(root, 'does-not-exist')],
    ];
    writeFileSync(projectsFile, `projects:\n${list.map(([id, dir]) => `  - { id: ${id}, path: ${JSON.stringify(dir)} }\n`).join('')}`);
    backend = { RDEV_PROJECTS_FILE: projectsFile, RDEV_COMMAND_ENV: 'CLAUDE_STANDIN_STATE' };
  }
  // RDEV_ON_SHUTDOWN=stop, as startTestApp's: with the default (detach) what it started would run on past close(),
  // writing into the test app's directories (the Claude stand-in's sessions) while they are removed.
  const base = { PORT: '0', RDEV_DATA_DIR: path.join(root, 'data'), RDEV_LOG_LEVEL: 'debug', RDEV_SHUTDOWN_GRACE_SECONDS: '0', RDEV_ON_SHUTDOWN: 'stop' };
  const config = loadConfig({ ...base, ...backend, ...env });
  const app = await createApp(config, { logger: createLogger('debug', (line) => lines.push(line)) });
  await until(() => app.registry.readiness().ready && app.registry.list().length === 3, 10_000, 'the registry to load');
  const server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    app,
    server,
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** One frame of a Server-Sent Events stream (a comment is event ":" with the comment as data). */
export interface Frame {
  event: string;
  data: string;
  id?: string;
}

/** An SSE request: its status, and the JSON body when it was refused or the frames when it was not. */
export type SseAnswer = { status: number; json: any; frames?: undefined } | { status: 200; json?: undefined; frames: AsyncGenerator<Frame> };

/** Opens an SSE stream with fetch; abort `init.signal` (or finish the frames) to close it. */
export async function openSse(url: string, init: RequestInit = {}): Promise<SseAnswer> {
  const res = await fetch(url, { ...init, headers: { accept: 'text/event-stream', ...(init.headers as Record<string, string>) } });
  if (res.status !== 200 || !res.body || !String(res.headers.get('content-type')).startsWith('text/event-stream')) {
    const text = await res.text();
    return { status: res.status, json: text === '' ? null : JSON.parse(text) };
  }
  return { status: 200, frames: framesOf(res.body as unknown as AsyncIterable<Uint8Array>) };
}

async function* framesOf(body: AsyncIterable<Uint8Array>): AsyncGenerator<Frame> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame: Frame = { event: 'message', data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === '') {
          frame.event = ':';
          data.push(value);
        } else if (field === 'event') frame.event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id') frame.id = value;
      }
      frame.data = data.join('\n');
      yield frame;
    }
  }
}
