import type { ClaudeSummary } from './claude-summary.js';

/** Domain shapes of a command and its events. The schema binds these to GraphQL; nothing here knows GraphQL. */

export type CommandKind = 'CLAUDE' | 'SHELL' | 'GIT';
export type CommandStatus = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'TIMED_OUT' | 'LOST';
export type OutputStream = 'STDOUT' | 'STDERR';

export const FINAL_STATUSES: ReadonlySet<CommandStatus> = new Set(['SUCCEEDED', 'FAILED', 'CANCELED', 'TIMED_OUT', 'LOST']);

/** True once a command can change no more. */
export function isFinal(status: CommandStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** One command run in a project, as the run manager records it. */
export interface Command {
  id: string;
  /** Position in creation order (1, 2, 3, …); cursors and "newest first" use it. */
  ordinal: number;
  projectId: string;
  kind: CommandKind;
  argv: string[];
  /** Directory relative to the workspace the command runs in ("" for the workspace itself). */
  workdir: string;
  timeoutSeconds: number;
  status: CommandStatus;
  exitCode: number | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  /** What a Claude run reported so far (CLAUDE commands only). */
  claude: ClaudeSummary | null;
  /** When retention deleted this command's output (its completed event stays); null while it has it all. */
  prunedAt: Date | null;
  /**
   * Where the server stands with the command's supervisor (once it went RUNNING): its process
   * group and how many bytes of each spool file the stored events cover. Updated together with the
   * events it covers (one write), so a re-attach after any crash resumes exactly after them.
   */
  spool?: SpoolPosition | null;
}

/** A supervised command's process group and the bytes of its spool files that the log holds. */
export interface SpoolPosition {
  pgid: number | null;
  stdout: number;
  stderr: number;
  /**
   * How many of the `stdout + stderr` bytes covered went into the log, the rest being past the
   * output cap: what the cap has used, so that a server adopting the command goes on from there.
   * Absent in a record written before it was kept (then taken as all of them, up to the cap).
   */
  logged?: number | undefined;
}

/** A piece of a command's output: whole lines where the command wrote whole lines. */
export interface OutputEvent {
  type: 'output';
  seq: number;
  stream: OutputStream;
  text: string;
  at: Date;
}

/** One message of a Claude run's stream-json output, parsed. */
export interface ClaudeEvent {
  type: 'claude';
  seq: number;
  /** The message's `type` (system, assistant, user, result). */
  messageType: string;
  subtype: string | null;
  /** The assistant's text ("" when the message has none). */
  text: string;
  toolName: string | null;
  /** The whole message as the CLI wrote it. */
  message: unknown;
  at: Date;
}

/** The last event of every command's log. */
export interface CompletedEvent {
  type: 'completed';
  seq: number;
  status: CommandStatus;
  exitCode: number | null;
  durationMs: number;
  error: string | null;
  at: Date;
}

export type CommandEvent = OutputEvent | ClaudeEvent | CompletedEvent;

/** An event before the log numbered it. */
export type NewCommandEvent = Omit<OutputEvent, 'seq'> | Omit<ClaudeEvent, 'seq'> | Omit<CompletedEvent, 'seq'>;
