import { assertVisible } from '../auth/policy.js';
import { NotFoundError } from '../errors.js';
import { findProject } from '../projects/find-project.js';
import type { ProjectEvent } from '../runs/project-events.js';
import type { CommandEvent } from '../runs/types.js';
import { abortable } from './abortable.js';
import { builder } from './builder.js';
import {
  CommandEventUnion,
  CommandRef,
  CommandStatusChangedRef,
  CommandStatusEnum,
  ProjectCommandEventRef,
  ProjectEventUnion,
  ProjectRef,
  ProjectStatusChangedRef,
  ProjectStatusEnum,
} from './refs.js';

CommandStatusChangedRef.implement({
  description: 'A command of the project was queued, started or finished.',
  fields: (t) => ({
    projectId: t.exposeID('projectId'),
    commandId: t.id({ resolve: (e) => e.command.id }),
    status: t.field({ type: CommandStatusEnum, resolve: (e) => e.command.status }),
    command: t.field({ type: CommandRef, resolve: async (e, _, ctx) => (await ctx.runs.find(e.command.id)) ?? e.command }),
  }),
});

ProjectCommandEventRef.implement({
  description: "One event of a command's log, with the command it belongs to.",
  fields: (t) => ({
    projectId: t.exposeID('projectId'),
    commandId: t.exposeID('commandId'),
    event: t.field({ type: CommandEventUnion, resolve: (e) => e.event }),
  }),
});

ProjectStatusChangedRef.implement({
  description: "The project's own status changed.",
  fields: (t) => ({
    projectId: t.exposeID('projectId'),
    // Not `status`: a client selecting both union members would hit a merge conflict with CommandStatusChanged.status.
    projectStatus: t.field({ type: ProjectStatusEnum, resolve: (e) => e.project.status }),
    statusMessage: t.string({ nullable: true, resolve: (e) => e.project.statusMessage }),
    project: t.field({ type: ProjectRef, resolve: (e) => e.project }),
  }),
});

builder.subscriptionFields((t) => ({
  commandEvents: t.field({
    type: CommandEventUnion,
    description: 'Replays every event after `after` (default: from the start), then follows live; ends after CommandCompleted.',
    args: {
      id: t.arg.id({ required: true }),
      after: t.arg.int({ required: false, validate: { min: [0, { message: 'must be 0 or more' }] } }),
    },
    subscribe: async (_, args, ctx) => {
      const id = String(args.id);
      const command = await ctx.runs.get(id); // NOT_FOUND before the stream starts
      assertVisible(ctx.identity, command.projectId);
      const release = ctx.guard.subscriptions.acquire(ctx.identity.name);
      return abortable((signal) => ctx.runs.follow(id, args.after ?? 0, signal), ctx.signal, release);
    },
    resolve: (event: CommandEvent) => event,
  }),
  projectEvents: t.field({
    type: ProjectEventUnion,
    description: "Live events of a project's commands (status changes and log events) and of the project itself.",
    args: { projectId: t.arg.id({ required: true }) },
    subscribe: async (_, args, ctx) => {
      const projectId = String(args.projectId);
      assertVisible(ctx.identity, projectId);
      if (!(await findProject(ctx.registry, projectId))) throw new NotFoundError('project', projectId);
      const release = ctx.guard.subscriptions.acquire(ctx.identity.name);
      return abortable((signal) => ctx.projectEvents.subscribe(projectId, signal), ctx.signal, release);
    },
    resolve: (event: ProjectEvent) => event,
  }),
}));
