import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { claudeBody, gitBody, shellBody } from './bodies.js';
import { envelope, restCommand, restErrorEnvelope, restProject, restStatus, sseComplete, sseOutput, sseStart } from './schemas.js';

/**
 * `/openapi.json`: the REST shims as an OpenAPI 3.1 document. Every schema in it is generated
 * (zod 4's JSON Schema output) from the zod schemas that parse the request bodies (bodies.ts)
 * and type the answers (schemas.ts); the operations below say which route takes and answers
 * what. test/api/openapi.test.ts checks it against the router both ways and validates it.
 */

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Json): Json => ({ 'application/json': { schema } });
const ok = (description: string, schema: Json): Json => ({ description, content: json(schema) });
const failure = (description: string): Json => ({ description, content: json(ref('ErrorEnvelope')) });

/** The error answers every authenticated route may give. */
const AUTH_ERRORS = {
  '401': failure('UNAUTHENTICATED: a token is needed (RDEV_TOKENS_FILE is set) or the one given is not known'),
  '403': failure('FORBIDDEN: the token may not do this'),
};
const RUN_ERRORS = {
  '400': failure('BAD_USER_INPUT: the body is not a JSON object, misses or breaks a field (`field`, `reason`), or has an unknown field'),
  ...AUTH_ERRORS,
  '404': failure('NOT_FOUND: no such project (or the token may not see it)'),
  '409': failure('PROJECT_NOT_READY: the project cannot run commands now'),
  '411': failure('LENGTH_REQUIRED: the body was chunked; send a Content-Length'),
  '413': failure('PAYLOAD_TOO_LARGE: the body exceeds RDEV_MAX_BODY_BYTES'),
  '415': failure('UNSUPPORTED_MEDIA_TYPE: the body is not application/json'),
  '429': failure('TOO_MANY_COMMANDS (the queue is full) or RATE_LIMITED (RDEV_MUTATIONS_PER_MINUTE)'),
};

const projectId = { name: 'id', in: 'path', required: true, description: 'The project', schema: { type: 'string' } };

function runOperation(kind: 'shell' | 'git' | 'claude', summary: string, body: string, example: Json): Json {
  return {
    tags: ['commands'],
    operationId: `run${kind[0]!.toUpperCase()}${kind.slice(1)}`,
    summary,
    description:
      'Starts the command and answers at once (202) with it, `running` or `queued`. Its output is read on the events stream (`stream_url`). ' +
      'With `idempotency_key`, a repeat by the same token within a day answers the command the first request started.',
    security: [{ bearer: [] }, {}],
    parameters: [projectId],
    requestBody: { required: true, content: { 'application/json': { schema: ref(body), example } } },
    responses: { '202': ok('The command, started or queued', ref('CommandEnvelope')), ...RUN_ERRORS },
  };
}

/** The operations, by path and method. */
function paths(): Json {
  const open = { security: [{}] };
  return {
    '/': {
      get: {
        tags: ['meta'],
        operationId: 'root',
        summary: 'Where to go: GraphiQL, these docs',
        description: 'An HTML page for a browser (`Accept: text/html`), else JSON naming the entry points.',
        ...open,
        responses: {
          '200': {
            description: 'The entry points',
            content: { 'text/html': { schema: { type: 'string' } }, 'application/json': { schema: ref('Root') } },
          },
        },
      },
    },
    '/health': {
      get: {
        tags: ['meta'],
        operationId: 'health',
        summary: 'Liveness',
        description: 'Answers 200 while the process serves; never touches the backend or the database.',
        ...open,
        responses: { '200': ok('Alive', ref('StatusEnvelope')) },
      },
    },
    '/ready': {
      get: {
        tags: ['meta'],
        operationId: 'ready',
        summary: 'Readiness',
        description: 'Answers 200 once the project registry answers (and PostgreSQL, with replicas), else 503 with the reason.',
        ...open,
        responses: { '200': ok('Ready', ref('StatusEnvelope')), '503': failure('NOT_READY, with the reason') },
      },
    },
    '/metrics': {
      get: {
        tags: ['meta'],
        operationId: 'metrics',
        summary: 'Prometheus metrics',
        description: 'The Prometheus text format. With RDEV_TOKENS_FILE: any valid Bearer token.',
        security: [{ bearer: [] }, {}],
        responses: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, ...AUTH_ERRORS },
      },
    },
    '/openapi.json': {
      get: { tags: ['meta'], operationId: 'openapi', summary: 'This document', ...open, responses: { '200': ok('OpenAPI 3.1', { type: 'object' }) } },
    },
    '/docs': {
      get: {
        tags: ['meta'],
        operationId: 'docs',
        summary: 'This document, rendered (Scalar API reference, served offline)',
        ...open,
        responses: { '200': { description: 'An HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
      },
    },
    '/docs/scalar.js': {
      get: {
        tags: ['meta'],
        operationId: 'docsScript',
        summary: "The Scalar API reference's standalone script, from the installed package",
        ...open,
        responses: { '200': { description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } } },
      },
    },
    '/projects': {
      get: {
        tags: ['projects'],
        operationId: 'listProjects',
        summary: 'The projects the token may see',
        security: [{ bearer: [] }, {}],
        responses: { '200': ok('The projects', ref('ProjectListEnvelope')), ...AUTH_ERRORS },
      },
    },
    '/projects/{id}': {
      get: {
        tags: ['projects'],
        operationId: 'getProject',
        summary: 'One project',
        security: [{ bearer: [] }, {}],
        parameters: [projectId],
        responses: {
          '200': ok('The project', ref('ProjectEnvelope')),
          ...AUTH_ERRORS,
          '404': failure('NOT_FOUND: no such project (or the token may not see it)'),
        },
      },
    },
    '/projects/{id}/shell': {
      post: runOperation('shell', 'Run a shell command (`sh -c`) in the workspace', 'ShellBody', { command: 'npm test', timeout_seconds: 900 }),
    },
    '/projects/{id}/git': {
      post: runOperation('git', 'Run git with these arguments (no shell; the subcommand must be allowed)', 'GitBody', { args: ['status'] }),
    },
    '/projects/{id}/claude': {
      post: runOperation('claude', 'Run a Claude Code prompt (`claude -p … --output-format stream-json`)', 'ClaudeBody', {
        prompt: 'fix the failing test',
        max_turns: 5,
      }),
    },
    '/projects/{id}/events': {
      get: {
        tags: ['events'],
        operationId: 'events',
        summary: "A command's events (with stream_id), or live events of every command of the project",
        description:
          "Server-Sent Events. With `stream_id`: the command's `output` lines from the start (or after " +
          '`Last-Event-ID`), then live, then one `complete`, after which the stream ends; ' +
          'a reconnect after `complete` is answered 204, which stops an EventSource. Every event has an `id` (`seq` or `seq.line`). ' +
          'Without `stream_id`: live `start`, `output` and `complete` events of every command of the project, each with `stream_id`. ' +
          'A `: heartbeat` comment goes out every RDEV_HEARTBEAT_SECONDS. Each `data:` is one JSON object: `SseOutput`, `SseComplete` or `SseStart`.',
        security: [{ bearer: [] }, { accessToken: [] }, {}],
        parameters: [
          projectId,
          { name: 'stream_id', in: 'query', required: false, description: 'The command (the `id` a POST answered)', schema: { type: 'string' } },
          {
            name: 'Last-Event-ID',
            in: 'header',
            required: false,
            description: 'Resume after this event (an EventSource sends it when it reconnects)',
            schema: { type: 'string', pattern: '^\\d{1,15}(\\.\\d{1,9})?$' },
          },
          { name: 'last_event_id', in: 'query', required: false, description: 'The same, for clients that cannot set the header', schema: { type: 'string' } },
        ],
        responses: {
          '200': {
            description: 'The event stream',
            content: { 'text/event-stream': { schema: { oneOf: [ref('SseOutputEvent'), ref('SseCompleteEvent'), ref('SseStartEvent')] } } },
          },
          '204': { description: "Resumed after the command's `complete`: nothing more will come" },
          '400': failure('BAD_USER_INPUT: Last-Event-ID is not an id this server sent'),
          ...AUTH_ERRORS,
          '404': failure('NOT_FOUND: no such project, or no such command in it'),
          '429': failure('RATE_LIMITED: too many open streams for this token (RDEV_MAX_SUBSCRIPTIONS_PER_TOKEN)'),
        },
      },
    },
  };
}

/** An SSE event as it goes on the wire: `event`, `id` and the JSON `data`. */
function sseEvent(event: string, data: string, description: string): Json {
  return {
    type: 'object',
    description,
    properties: { event: { type: 'string', const: event }, id: { type: 'string' }, data: ref(data) },
    required: ['event', 'data'],
  };
}

/** Every component schema, generated from the zod schemas. */
function schemas(): Json {
  const registry = z.registry<{ id: string }>();
  const add = (id: string, schema: z.ZodType): void => void registry.add(schema, { id });
  add('ShellBody', shellBody);
  add('GitBody', gitBody);
  add('ClaudeBody', claudeBody);
  add('Project', restProject);
  add('Command', restCommand);
  add('Status', restStatus);
  add('ErrorEnvelope', restErrorEnvelope);
  add('ProjectEnvelope', envelope(restProject));
  add('ProjectListEnvelope', envelope(z.array(restProject)));
  add('CommandEnvelope', envelope(restCommand));
  add('StatusEnvelope', envelope(restStatus));
  add('SseOutput', sseOutput);
  add('SseComplete', sseComplete);
  add('SseStart', sseStart);
  add('Root', z.object({ graphql: z.string(), graphiql: z.string(), docs: z.string(), openapi: z.string() }));
  // Bodies as clients write them (optional fields optional), answers as the server makes them.
  const input = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'input', uri: (id) => `#/components/schemas/${id}` }).schemas;
  const output = z.toJSONSchema(registry, { target: 'draft-2020-12', io: 'output', uri: (id) => `#/components/schemas/${id}` }).schemas;
  const all: Json = {};
  for (const [id, schema] of Object.entries(output)) {
    const { $schema: _s, $id: _i, ...rest } = (id.endsWith('Body') ? input[id]! : schema) as Json;
    all[id] = tidy(rest);
  }
  all.SseOutputEvent = sseEvent('output', 'SseOutput', 'One line of output');
  all.SseCompleteEvent = sseEvent('complete', 'SseComplete', "The command's end; the stream ends after it");
  all.SseStartEvent = sseEvent('start', 'SseStart', 'A command of the project started (project-wide stream only)');
  return all;
}

/**
 * `schema` as a reader (and Scalar, whose checker refuses both forms below) takes it best: without
 * the bounds zod puts on every integer (±2^53-1), and `{"anyOf": [{"type": T, …}, {"type": "null"}]}`
 * (a nullable) as `{"type": [T, "null"], …}`, which means the same.
 */
function tidy<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(tidy) as T;
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if ((key === 'minimum' || key === 'maximum') && Math.abs(value as number) === Number.MAX_SAFE_INTEGER) continue;
    out[key] = tidy(value);
  }
  const anyOf = out.anyOf as Json[] | undefined;
  if (anyOf?.length === 2) {
    const nullIndex = anyOf.findIndex((s) => s.type === 'null' && Object.keys(s).length === 1);
    const other = anyOf[1 - nullIndex];
    if (nullIndex >= 0 && other && typeof other.type === 'string') {
      const { anyOf: _a, ...rest } = out;
      return { ...other, ...rest, type: [other.type, 'null'] } as T;
    }
  }
  return out as T;
}

/** The server's version, from its package.json (two levels above this module in src/ and dist/ alike). */
function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The OpenAPI 3.1 document of the REST shims. */
export function openApiDocument(): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'rdev-api REST shims',
      version: version(),
      description:
        'The REST routes of rdev-api, kept for the clients of the old Go server (v0.4). The full API is GraphQL at `/graphql` ' +
        '(GraphiQL in a browser) with subscriptions over SSE at `/graphql/stream`. Answers are enveloped: `{"data", "meta"}`, or ' +
        '`{"error": {"code", "message", …}, "meta"}`.',
    },
    tags: [
      { name: 'projects', description: 'Projects: claudebox pods (kube backend) or directories (local backend)' },
      { name: 'commands', description: 'Start shell, git and Claude commands' },
      { name: 'events', description: 'Follow commands over Server-Sent Events' },
      { name: 'meta', description: 'Health, readiness, metrics and these docs' },
    ],
    paths: paths(),
    components: {
      schemas: schemas(),
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A token of RDEV_TOKENS_FILE (none needed without it: loopback only)' },
        accessToken: { type: 'apiKey', in: 'query', name: 'access_token', description: 'The token, for an EventSource (which cannot send headers)' },
      },
    },
  };
}
