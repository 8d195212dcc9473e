import type { Project } from '../projects/registry.js';
import type { ClaudeSummary } from '../runs/claude-summary.js';
import type { ProjectEvent } from '../runs/project-events.js';
import type { ClaudeEvent, Command, CommandEvent, CompletedEvent, OutputEvent } from '../runs/types.js';
import { builder } from './builder.js';
import type { CommandPage } from './connection.js';

/**
 * The GraphQL names bound to domain shapes, declared once here and implemented in each area's
 * file, so that areas can refer to each other without import cycles.
 */

export const ProjectStatusEnum = builder.enumType('ProjectStatus', { values: ['READY', 'STARTING', 'NOT_READY', 'MISSING'] as const });
export const CommandKindEnum = builder.enumType('CommandKind', { values: ['CLAUDE', 'SHELL', 'GIT'] as const });
export const CommandStatusEnum = builder.enumType('CommandStatus', {
  values: ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT', 'LOST'] as const,
});
export const ClaudePermissionModeEnum = builder.enumType('ClaudePermissionMode', {
  description:
    "Claude Code's --permission-mode: DEFAULT asks (so headless runs are denied tools that need " +
    'permission), ACCEPT_EDITS lets it edit files, PLAN only plans, DONT_ASK denies without asking, ' +
    'BYPASS_PERMISSIONS allows every tool.',
  values: {
    DEFAULT: { value: 'default' },
    ACCEPT_EDITS: { value: 'acceptEdits' },
    PLAN: { value: 'plan' },
    DONT_ASK: { value: 'dontAsk' },
    BYPASS_PERMISSIONS: { value: 'bypassPermissions' },
  } as const,
});
export const OutputStreamEnum = builder.enumType('OutputStream', { values: ['STDOUT', 'STDERR'] as const });

export const ProjectRef = builder.objectRef<Project>('Project');
export const CommandRef = builder.objectRef<Command>('Command');
export const CommandOutputRef = builder.objectRef<OutputEvent>('CommandOutput');
export const CommandCompletedRef = builder.objectRef<CompletedEvent>('CommandCompleted');
export const ClaudeMessageRef = builder.objectRef<ClaudeEvent>('ClaudeMessage');
export const ClaudeRunRef = builder.objectRef<ClaudeSummary>('ClaudeRun');
export const CommandConnectionRef = builder.objectRef<CommandPage>('CommandConnection');

export const CommandEventUnion = builder.unionType('CommandEvent', {
  types: [CommandOutputRef, ClaudeMessageRef, CommandCompletedRef],
  resolveType: (event: CommandEvent) => ({ output: CommandOutputRef, claude: ClaudeMessageRef, completed: CommandCompletedRef })[event.type],
});

export const CommandStatusChangedRef = builder.objectRef<Extract<ProjectEvent, { type: 'command-status' }>>('CommandStatusChanged');
export const ProjectCommandEventRef = builder.objectRef<Extract<ProjectEvent, { type: 'command-event' }>>('ProjectCommandEvent');
export const ProjectStatusChangedRef = builder.objectRef<Extract<ProjectEvent, { type: 'project-status' }>>('ProjectStatusChanged');

export const ProjectEventUnion = builder.unionType('ProjectEvent', {
  description: 'Something that happened in a project: a command changed status, a command logged an event, or the project itself changed status.',
  types: [CommandStatusChangedRef, ProjectCommandEventRef, ProjectStatusChangedRef],
  resolveType: (event: ProjectEvent) =>
    ({ 'command-status': CommandStatusChangedRef, 'command-event': ProjectCommandEventRef, 'project-status': ProjectStatusChangedRef })[event.type],
});
