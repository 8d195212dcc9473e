import type { Project } from '../projects/registry.js';
import type { OutputEvent } from '../runs/types.js';
import { canSeeProject } from '../auth/identity.js';
import { builder } from './builder.js';
import { connectionCost, pageArgs, toPage } from './connection.js';
import { listCost } from './query-limits.js';
import {
  ClaudeMessageRef,
  ClaudeRunRef,
  CommandCompletedRef,
  CommandConnectionRef,
  CommandKindEnum,
  CommandOutputRef,
  CommandRef,
  CommandStatusEnum,
  OutputStreamEnum,
  ProjectRef,
} from './refs.js';

/** `Command.output` returns at most this many events per call (page with `after`). */
export const MAX_OUTPUT_PAGE = 10_000;

/** What `output` returns for a command whose output retention deleted: one event saying so. */
function prunedNotice(at: Date): OutputEvent {
  return { type: 'output', seq: 0, stream: 'STDERR', text: `[rdev] this command's output was deleted by retention at ${at.toISOString()}\n`, at };
}

/** A command's project; one that has since disappeared shows as MISSING rather than failing the query. */
function missingProject(id: string): Project {
  return { id, status: 'MISSING', statusMessage: 'the project no longer exists', pod: null, workspace: '' };
}

CommandRef.implement({
  description: 'One command run in a project.',
  fields: (t) => ({
    id: t.exposeID('id'),
    project: t.field({ type: ProjectRef, resolve: (c, _, ctx) => ctx.registry.get(c.projectId) ?? missingProject(c.projectId) }),
    kind: t.field({ type: CommandKindEnum, resolve: (c) => c.kind }),
    argv: t.exposeStringList('argv'),
    status: t.field({ type: CommandStatusEnum, resolve: (c) => c.status }),
    exitCode: t.exposeInt('exitCode', { nullable: true, description: 'Null for CANCELED, TIMED_OUT and LOST: no exit code was observed.' }),
    error: t.exposeString('error', { nullable: true, description: 'Why it FAILED, was LOST or TIMED_OUT, in words.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    durationMs: t.exposeInt('durationMs', { nullable: true, description: 'Wall time from start to finish.' }),
    timeoutSeconds: t.exposeInt('timeoutSeconds'),
    workdir: t.exposeString('workdir', { description: 'Directory relative to the workspace ("" for the workspace itself).' }),
    output: t.field({
      type: [CommandOutputRef],
      description: `Output events after \`after\` (default 0), at most \`first\` (default and maximum ${MAX_OUTPUT_PAGE}).`,
      // Rows of one read of one log, leaves only: priced per hundred, so that one command's whole
      // output fits the default limit and a hundred commands' outputs do not.
      extensions: { complexity: listCost({ defaultSize: MAX_OUTPUT_PAGE, maxSize: MAX_OUTPUT_PAGE, perBatch: 100 }) },
      args: {
        after: t.arg.int({ required: false, validate: { min: [0, { message: 'must be 0 or more' }] } }),
        first: t.arg.int({
          required: false,
          validate: { min: [0, { message: 'must be 0 or more' }], max: [MAX_OUTPUT_PAGE, { message: `must be at most ${MAX_OUTPUT_PAGE}` }] },
        }),
      },
      resolve: async (c, args, ctx) => {
        const limit = args.first ?? MAX_OUTPUT_PAGE;
        if (c.prunedAt) return [prunedNotice(c.prunedAt)];
        const out = [];
        // Completion (and, later, parsed Claude) events share the seq space; skip them but keep paging.
        for (let after = args.after ?? 0; out.length < limit;) {
          const batch = await ctx.runs.events(c.id, after, limit - out.length);
          if (batch.length === 0) break;
          for (const e of batch) if (e.type === 'output') out.push(e);
          after = batch.at(-1)!.seq;
        }
        return out;
      },
    }),
    prunedAt: t.expose('prunedAt', {
      type: 'DateTime',
      nullable: true,
      description: "When retention deleted this command's output (RDEV_RETENTION_DAYS, RDEV_RETENTION_MAX_BYTES).",
    }),
    claude: t.field({
      type: ClaudeRunRef,
      nullable: true,
      description: 'CLAUDE commands only.',
      resolve: (c) => c.claude,
    }),
  }),
});

CommandOutputRef.implement({
  description: 'A piece of output: whole lines where the command wrote whole lines.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    stream: t.field({ type: OutputStreamEnum, resolve: (e) => e.stream }),
    text: t.exposeString('text'),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

CommandCompletedRef.implement({
  description: 'The last event of a command.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    status: t.field({ type: CommandStatusEnum, resolve: (e) => e.status }),
    exitCode: t.exposeInt('exitCode', { nullable: true }),
    durationMs: t.exposeInt('durationMs'),
    error: t.exposeString('error', { nullable: true }),
  }),
});

ClaudeMessageRef.implement({
  description: 'One message of a Claude run, parsed from its stream-json output.',
  fields: (t) => ({
    seq: t.exposeInt('seq'),
    type: t.exposeString('messageType'),
    subtype: t.exposeString('subtype', { nullable: true }),
    text: t.exposeString('text'),
    toolName: t.exposeString('toolName', { nullable: true }),
    message: t.expose('message', { type: 'JSON' }),
  }),
});

ClaudeRunRef.implement({
  description:
    'What a Claude run reported, from its stream-json messages: sessionId and model from the init message (while it runs), the rest from the result message.',
  fields: (t) => ({
    sessionId: t.exposeString('sessionId', { nullable: true }),
    model: t.exposeString('model', { nullable: true }),
    result: t.exposeString('result', { nullable: true }),
    isError: t.exposeBoolean('isError', { nullable: true }),
    numTurns: t.exposeInt('numTurns', { nullable: true }),
    totalCostUsd: t.exposeFloat('totalCostUsd', { nullable: true }),
    durationMs: t.exposeInt('durationMs', { nullable: true, description: 'What the CLI reported in its result message.' }),
    resultSubtype: t.exposeString('resultSubtype', { nullable: true, description: 'success, error_max_turns, error_during_execution, …' }),
  }),
});

builder.queryFields((t) => ({
  command: t.field({
    type: CommandRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_, args, ctx) => {
      const command = await ctx.runs.find(String(args.id));
      return command && canSeeProject(ctx.identity, command.projectId) ? command : null;
    },
  }),
  commands: t.field({
    type: CommandConnectionRef,
    description: 'Commands of every project (or of one), newest first.',
    extensions: { complexity: connectionCost },
    args: {
      projectId: t.arg.id({ required: false }),
      status: t.arg({ type: CommandStatusEnum, required: false }),
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
    },
    resolve: async (_, args, ctx) => {
      const { limit, beforeOrdinal } = pageArgs(args.first, args.after);
      const projectId = args.projectId == null ? undefined : String(args.projectId);
      if (projectId !== undefined && !canSeeProject(ctx.identity, projectId)) return toPage([], limit);
      return toPage(
        await ctx.runs.list({ projectId, projectIds: ctx.identity.projects ?? undefined, status: args.status ?? undefined, beforeOrdinal, limit }),
        limit,
      );
    },
  }),
}));
