import { z } from 'zod';
import { ERROR_HTTP_STATUS } from '../errors.js';
import type { ProjectStatus } from '../projects/registry.js';
import type { CommandKind, CommandStatus } from '../runs/types.js';

/**
 * What the REST shims answer, as zod schemas: the handlers' results are typed by them
 * (`RestProject`, `RestCommand`), the tests parse real answers and SSE events with them, and
 * `/openapi.json` is generated from them and the request bodies (bodies.ts), so the document
 * cannot drift from what is served.
 */

/** `value` in lowercase, typed as such (the REST shims answer enums in lowercase). */
export const lowerCase = <T extends string>(value: T): Lowercase<T> => value.toLowerCase() as Lowercase<T>;
const lower = <T extends string>(values: readonly T[]) => values.map(lowerCase);
const PROJECT_STATUSES: readonly ProjectStatus[] = ['READY', 'STARTING', 'NOT_READY', 'MISSING'];
const COMMAND_STATUSES: readonly CommandStatus[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT', 'LOST'];
const COMMAND_KINDS: readonly CommandKind[] = ['SHELL', 'GIT', 'CLAUDE'];

/** Error codes a REST answer carries: the API's (errors.ts) and the HTTP layer's own. */
export const REST_ERROR_CODES = [
  ...(Object.keys(ERROR_HTTP_STATUS) as Array<keyof typeof ERROR_HTTP_STATUS>),
  'METHOD_NOT_ALLOWED',
  'LENGTH_REQUIRED',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_READY',
  'INTERNAL',
] as const;

export const restMeta = z.object({
  request_id: z.string().describe('The X-Request-Id of the request (given by the client when sane, else a new one)'),
  timestamp: z.iso.datetime().describe('When the answer was made'),
});

export const restError = z.looseObject({
  code: z.enum(REST_ERROR_CODES),
  message: z.string(),
  field: z.string().optional().describe('BAD_USER_INPUT: the refused field, named as the request body names it'),
  reason: z.string().optional().describe('BAD_USER_INPUT: the rule the field broke'),
});

export const restErrorEnvelope = z.object({ error: restError, meta: restMeta });

/** `{"data": …, "meta": …}` around `data`. */
export const envelope = <T extends z.ZodType>(data: T) => z.object({ data, meta: restMeta });

export const restStatus = z.object({ status: z.enum(['ok', 'ready']) });

export const restProject = z.object({
  id: z.string(),
  status: z.enum(lower(PROJECT_STATUSES)),
  status_message: z.string().nullable().describe('Why a project is not ready'),
  pod: z.string().nullable().describe('The claudebox pod (kube backend); null on the local backend'),
  workspace: z.string().describe('The directory commands run in'),
});
export type RestProject = z.output<typeof restProject>;

export const restCommand = z.object({
  id: z.string(),
  project: z.string(),
  type: z.enum(lower(COMMAND_KINDS)),
  status: z.enum(lower(COMMAND_STATUSES)).describe('"running", or "queued" while the project has no free slot'),
  argv: z.array(z.string()),
  created_at: z.iso.datetime(),
  stream_url: z.string().describe('The events stream of this command: GET it (an EventSource) to follow the output'),
});
export type RestCommand = z.output<typeof restCommand>;

const streamId = z.string().describe('The command (only on the project-wide stream, without stream_id)');

/** `event: output`: one line of output (Claude's messages rendered as readable lines). */
export const sseOutput = z.object({ stream_id: streamId.optional(), stream: z.enum(['stdout', 'stderr']), line: z.string() });
/** `event: complete`: the command's end; the stream ends after it. */
export const sseComplete = z.object({
  stream_id: streamId.optional(),
  exit_code: z.number().int().nullable(),
  duration_ms: z.number().int().nullable(),
  status: z.enum(lower(COMMAND_STATUSES)),
  error: z.string().nullable(),
});
/** `event: start` (project-wide stream only): a command of the project started running. */
export const sseStart = z.object({ stream_id: z.string(), type: z.enum(lower(COMMAND_KINDS)), status: z.literal('running') });
