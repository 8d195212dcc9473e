import type { ClaudeSessionInfo } from '../runs/claude-sessions.js';
import { builder } from './builder.js';
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
    args: { first: t.arg.int({ required: false, validate: { min: [1, { message: 'must be at least 1' }], max: [100, { message: 'must be at most 100' }] } }) },
    resolve: (project, args, ctx) => ctx.runs.claudeSessions(project.id, args.first ?? 10),
  }),
);
