import { BadUserInputError } from '../errors.js';
import { claudeArgv, gitArgv, shellArgv } from '../runs/command-builders.js';
import {
  allowedToolsRule,
  gitArgsRule,
  idempotencyKeyRule,
  maxTurnsRule,
  modelRule,
  projectIdRule,
  promptRule,
  sessionIdRule,
  shellCommandRule,
  timeoutRule,
  workdirRule,
} from '../runs/inputs.js';
import { builder } from './builder.js';
import { ClaudePermissionModeEnum, CommandRef } from './refs.js';

const RunShellInput = builder.inputType('RunShellInput', {
  fields: (t) => ({
    projectId: t.id({ required: true, validate: { schema: projectIdRule } }),
    command: t.string({ required: true, description: 'A command line for `sh -c`.', validate: { schema: shellCommandRule } }),
    workdir: t.string({ description: 'Directory inside the workspace (relative to it).', validate: { schema: workdirRule } }),
    timeoutSeconds: t.int({ validate: { schema: timeoutRule } }),
    idempotencyKey: t.string({ validate: { schema: idempotencyKeyRule } }),
  }),
});

const RunGitInput = builder.inputType('RunGitInput', {
  fields: (t) => ({
    projectId: t.id({ required: true, validate: { schema: projectIdRule } }),
    args: t.stringList({ required: true, description: 'git arguments, starting with the subcommand.', validate: { schema: gitArgsRule } }),
    timeoutSeconds: t.int({ validate: { schema: timeoutRule } }),
    idempotencyKey: t.string({ validate: { schema: idempotencyKeyRule } }),
  }),
});

const RunClaudeInput = builder.inputType('RunClaudeInput', {
  fields: (t) => ({
    projectId: t.id({ required: true, validate: { schema: projectIdRule } }),
    prompt: t.string({ required: true, validate: { schema: promptRule } }),
    sessionId: t.string({ description: 'Resume this Claude session (`--resume`).', validate: { schema: sessionIdRule } }),
    continueSession: t.boolean({ description: 'Continue the most recent session (`--continue`).' }),
    model: t.string({ validate: { schema: modelRule } }),
    allowedTools: t.stringList({ validate: { schema: allowedToolsRule } }),
    maxTurns: t.int({ validate: { schema: maxTurnsRule } }),
    permissionMode: t.field({
      type: ClaudePermissionModeEnum,
      description: 'How Claude may use tools without asking (nobody can answer a prompt headless). Default: ACCEPT_EDITS.',
    }),
    timeoutSeconds: t.int({ validate: { schema: timeoutRule } }),
    idempotencyKey: t.string({ validate: { schema: idempotencyKeyRule } }),
  }),
});

builder.mutationFields((t) => ({
  runShell: t.field({
    type: CommandRef,
    description: 'Runs a command line with `sh -c` in the workspace; returns at once (RUNNING or QUEUED).',
    args: { input: t.arg({ type: RunShellInput, required: true }) },
    resolve: (_, { input }, ctx) =>
      ctx.guard.run(ctx.identity, {
        projectId: String(input.projectId),
        kind: 'SHELL',
        argv: shellArgv(input.command),
        workdir: input.workdir,
        timeoutSeconds: input.timeoutSeconds,
        idempotencyKey: input.idempotencyKey,
      }),
  }),
  runGit: t.field({
    type: CommandRef,
    description: 'Runs git with these arguments (no shell) in the workspace; returns at once.',
    args: { input: t.arg({ type: RunGitInput, required: true }) },
    resolve: (_, { input }, ctx) =>
      ctx.guard.run(
        ctx.identity,
        {
          projectId: String(input.projectId),
          kind: 'GIT',
          argv: gitArgv(input.args),
          timeoutSeconds: input.timeoutSeconds,
          idempotencyKey: input.idempotencyKey,
        },
        input.args,
      ),
  }),
  runClaude: t.field({
    type: CommandRef,
    description: 'Runs Claude Code headless (`claude -p … --output-format stream-json --verbose`); returns at once.',
    args: { input: t.arg({ type: RunClaudeInput, required: true }) },
    resolve: (_, { input }, ctx) => {
      const argv = claudeArgv(input);
      if (input.sessionId && input.continueSession) {
        const refusal = new BadUserInputError('continueSession', 'give sessionId or continueSession, not both');
        ctx.guard.refused(ctx.identity, String(input.projectId), 'CLAUDE', argv, refusal);
        throw refusal;
      }
      return ctx.guard.run(ctx.identity, {
        projectId: String(input.projectId),
        kind: 'CLAUDE',
        argv,
        timeoutSeconds: input.timeoutSeconds,
        idempotencyKey: input.idempotencyKey,
      });
    },
  }),
  cancelCommand: t.field({
    type: CommandRef,
    description:
      'Stops a queued or running command and returns it once it has ended CANCELED (its process group ' +
      'is gone: SIGTERM, then SIGKILL after a 2 s grace). The wait is bounded (the grace and 1 s ' +
      'more): a command whose workspace cannot be reached in that time is returned still RUNNING, ' +
      'and its CANCELED reaches commandEvents later. A finished command is returned unchanged.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_, args, ctx) => ctx.guard.cancel(ctx.identity, String(args.id)),
  }),
}));
