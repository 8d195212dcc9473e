import { canSeeProject } from '../auth/identity.js';
import { builder } from './builder.js';
import { connectionCost, pageArgs, toPage } from './connection.js';
import { projectsCost } from './query-limits.js';
import { CommandConnectionRef, CommandStatusEnum, ProjectRef, ProjectStatusEnum } from './refs.js';

ProjectRef.implement({
  description: 'A workspace: a pod with a git checkout (kube backend) or a directory (local backend).',
  fields: (t) => ({
    id: t.exposeID('id'),
    status: t.field({ type: ProjectStatusEnum, resolve: (p) => p.status }),
    statusMessage: t.exposeString('statusMessage', { nullable: true }),
    pod: t.exposeString('pod', { nullable: true, description: 'Pod name; null for the local backend.' }),
    workspace: t.exposeString('workspace', { description: 'The working directory commands run in.' }),
    commands: t.field({
      type: CommandConnectionRef,
      description: "The project's commands, newest first.",
      extensions: { complexity: connectionCost },
      args: {
        first: t.arg.int({ required: false }),
        after: t.arg.string({ required: false }),
        status: t.arg({ type: CommandStatusEnum, required: false }),
      },
      resolve: async (project, args, ctx) => {
        const { limit, beforeOrdinal } = pageArgs(args.first, args.after);
        return toPage(await ctx.runs.list({ projectId: project.id, status: args.status ?? undefined, beforeOrdinal, limit }), limit);
      },
    }),
  }),
});

builder.queryFields((t) => ({
  projects: t.field({
    type: [ProjectRef],
    extensions: { complexity: projectsCost },
    resolve: (_, __, ctx) => ctx.registry.list().filter((p) => canSeeProject(ctx.identity, p.id)),
  }),
  project: t.field({
    type: ProjectRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, args, ctx) => (canSeeProject(ctx.identity, String(args.id)) ? (ctx.registry.get(String(args.id)) ?? null) : null),
  }),
}));
