import type { ClaudeSessionInfo } from '../runs/claude-sessions.js';
import { builder } from './builder.js';
import { listCost } from './query-limits.js';

/** Sessions `claudeSessions` lists without `first`, and the most it may ask for. */
const SESSIONS_PAGE = 10;
const MAX_SESSIONS_PAGE = 100;
import { CommandRef, ProjectRef } from './refs.js';

const ClaudeSessionRef = builder.objectRef<ClaudeSessionInfo>('ClaudeSession').implement({
  description: 'A Claude conversation in a project; pass its sessionId to runClaude to continue it.',
  fields: (t) => ({
    sessionId: t.exposeString('sessionId'),
    lastCommand: t.field({ type: CommandRef, resolve: (s) => s.lastCommand }),
    lastResult: t.exposeString('lastResult', { nullable: true, description: 'The first line of the newest result.' }),
    updatedAt: t.field({ type: 'DateTime', resolve: (s) => s.lastCommand.finishedAt ?? s.lastCommand.startedAt ?? s.lastCommand.createdAt }),
    runs: t.exposeInt('runs', { description: 'How many runs of this session the server remembers.' }),
  }),
});

builder.objectField(ProjectRef, 'claudeSessions', (t) =>
  t.field({
    type: [ClaudeSessionRef],
    description: "The project's recent Claude sessions, newest first, so that a chat bot can continue one without keeping its own table.",
    extensions: { complexity: listCost({ defaultSize: SESSIONS_PAGE, maxSize: MAX_SESSIONS_PAGE }) },
    args: {
      first: t.arg.int({
        required: false,
        validate: { min: [1, { message: 'must be at least 1' }], max: [MAX_SESSIONS_PAGE, { message: `must be at most ${MAX_SESSIONS_PAGE}` }] },
      }),
    },
    resolve: (project, args, ctx) => ctx.runs.claudeSessions(project.id, args.first ?? SESSIONS_PAGE),
  }),
);
