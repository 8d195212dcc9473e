import type { AuditLog } from '../audit/audit-log.js';
import type { CommandStore } from './command-store.js';
import type { EventLog } from './event-log.js';
import { OutputMeter } from './output-meter.js';
import type { ProjectEvents } from './project-events.js';
import type { FinalState } from './status.js';
import type { Command } from './types.js';

/**
 * Hooks the run manager calls where the events happen; an implementation must be cheap and must
 * not throw. Running and queued counts are not pushed here: read them with `RunManager.counts()`.
 */
export interface RunMetrics {
  /** The command went RUNNING (it was handed to the executor). */
  started(command: Command): void;
  /** The command reached its final status (queued commands canceled or lost at shutdown too). */
  finished(command: Command): void;
  /** The executor delivered `bytes` bytes of output, before the output cap drops any. */
  output(command: Command, bytes: number): void;
  /**
   * The command's first output byte arrived, `ms` after it went RUNNING (the executor reports no
   * earlier sign that the process has started; a command that writes nothing is never reported).
   */
  firstOutput(command: Command, ms: number): void;
}

/** What recording a command's end needs (a `CommandRun`'s, or the run manager's for a command that never ran). */
export interface FinishDeps {
  log: EventLog;
  store: CommandStore;
  projectEvents: ProjectEvents;
  audit?: Pick<AuditLog, 'finished'> | undefined;
  metrics?: RunMetrics | undefined;
}

/** Whether a store refused a write because another replica holds the command now (a `FencedError`). */
export function isFenced(err: unknown): boolean {
  return err instanceof Error && err.name === 'FencedError';
}

/**
 * Records a command's final state: store, its `completed` event (both in one write), then, once
 * that is durable, audit, status publication and metrics. Also used for commands that never ran
 * (canceled or lost while QUEUED). Rejects when the write fails (a `FencedError` when another
 * replica holds the command). (Events reach `projectEvents` once durable, through the run
 * manager's `onDurable` listener.)
 */
export async function finishCommand(d: FinishDeps, command: Command, state: FinalState, meter: OutputMeter = new OutputMeter(0)): Promise<Command> {
  const finishedAt = new Date();
  const durationMs = command.startedAt ? finishedAt.getTime() - command.startedAt.getTime() : null;
  const patch = { ...state, finishedAt, durationMs };
  // The store first: it compares with the record as it was, and shows the end only once it is durable
  // (written after, hence with, every event appended before it: readers never see an end before its output).
  const written = d.store.update(command.id, patch);
  Object.assign(command, patch);
  const completed = d.log.append(command.id, [
    { type: 'completed', status: state.status, exitCode: state.exitCode, durationMs: durationMs ?? 0, error: state.error, at: finishedAt },
  ]);
  const [updated] = await Promise.all([written, completed]);
  // Where the final record and the completed event can commit apart (PostgreSQL), the event is in too
  // before anyone hears of the end: project subscribers get the completion, then the status.
  await d.log.flushed?.();
  d.audit?.finished({ commandId: command.id, status: state.status, exitCode: state.exitCode, outputBytes: meter.bytes, outputSha256: meter.digest() });
  d.projectEvents.publish({ type: 'command-status', projectId: command.projectId, command: { ...updated } });
  d.metrics?.finished(updated);
  return updated;
}
