/** The GraphQL operations `rdev` sends, with the shapes of their answers. */

export interface CommandSummary {
  id: string;
  kind: 'SHELL' | 'GIT' | 'CLAUDE';
  status: string;
  exitCode: number | null;
  argv: string[];
  createdAt: string;
  project: { id: string };
}

const COMMAND = 'id kind status exitCode argv createdAt project { id }';

export const PROJECTS = `query Projects { projects { id status statusMessage workspace } }`;
export interface ProjectsData {
  projects: Array<{ id: string; status: string; statusMessage: string | null; workspace: string }>;
}

export const RUN_SHELL = `mutation RunShell($input: RunShellInput!) { runShell(input: $input) { ${COMMAND} } }`;
export const RUN_GIT = `mutation RunGit($input: RunGitInput!) { runGit(input: $input) { ${COMMAND} } }`;
export const RUN_CLAUDE = `mutation RunClaude($input: RunClaudeInput!) { runClaude(input: $input) { ${COMMAND} } }`;
export type RunData = Record<'runShell' | 'runGit' | 'runClaude', CommandSummary | undefined>;

export const CANCEL = `mutation Cancel($id: ID!) { cancelCommand(id: $id) { ${COMMAND} } }`;
export interface CancelData {
  cancelCommand: CommandSummary;
}

export const COMMAND_OUTPUT = `query Output($id: ID!, $after: Int, $first: Int) {
  command(id: $id) { status output(after: $after, first: $first) { seq stream text } }
}`;
export interface CommandOutputData {
  command: { status: string; output: Array<{ seq: number; stream: 'STDOUT' | 'STDERR'; text: string }> } | null;
}

export const COMMANDS = `query Commands($projectId: ID, $first: Int) { commands(projectId: $projectId, first: $first) { edges { node { ${COMMAND} } } } }`;
export interface CommandsData {
  commands: { edges: Array<{ node: CommandSummary }> };
}

export const COMMAND_EVENTS = `subscription Follow($id: ID!, $after: Int) {
  commandEvents(id: $id, after: $after) {
    __typename
    ... on CommandOutput { seq stream text }
    ... on ClaudeMessage { seq type subtype text toolName message }
    ... on CommandCompleted { seq status exitCode durationMs error }
  }
}`;

/** One event of `commandEvents`. */
export type FollowEvent =
  | { __typename: 'CommandOutput'; seq: number; stream: 'STDOUT' | 'STDERR'; text: string }
  | { __typename: 'ClaudeMessage'; seq: number; type: string; subtype: string | null; text: string; toolName: string | null; message: unknown }
  | { __typename: 'CommandCompleted'; seq: number; status: string; exitCode: number | null; durationMs: number; error: string | null };
export type CompletedFollowEvent = Extract<FollowEvent, { __typename: 'CommandCompleted' }>;
