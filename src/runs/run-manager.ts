import { randomBytes } from 'node:crypto';
import type { Executor } from '../exec/executor.js';
import { BadUserInputError, NotFoundError, ProjectNotReadyError, TooManyCommandsError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ProjectRegistry } from '../projects/registry.js';
import { OutputChunker } from './chunker.js';
import type { CommandQuery, CommandStore } from './command-store.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import type { EventLog } from './event-log.js';
import type { ProjectEvents } from './project-events.js';
import { recentClaudeSessions, type ClaudeSessionInfo } from './claude-sessions.js';
import { claudeEventOf } from './claude-stream.js';
import { claudeFailure, EMPTY_CLAUDE_SUMMARY, foldClaudeMessage } from './claude-summary.js';
import { OutputMeter } from './output-meter.js';
import { createClaudeSink, createPlainSink, type OutputSink } from './output-sink.js';
import { claudeFinalState, finalState, type FinalState, type StopReason } from './status.js';
import { isFinal, type Command, type CommandEvent, type CommandKind, type NewCommandEvent } from './types.js';
import { resolveWorkdir } from './workdir.js';

/** Limits the run manager enforces. */
export interface RunLimits {
  defaultTimeoutSeconds: number;
  claudeTimeoutSeconds: number;
  /** A Claude run that writes nothing for this long is stopped as TIMED_OUT (0: never). */
  claudeIdleTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  maxConcurrentPerProject: number;
  /** Running commands across all projects; more wait QUEUED. */
  maxConcurrentTotal: number;
  maxQueued: number;
  /** Output kept per command; past it, output is dropped and one marker event says how much. */
  maxOutputBytes: number;
}

/** What the run manager is built from; everything is passed in. */
export interface RunManagerOptions {
  registry: ProjectRegistry;
  executor: Executor;
  log: EventLog;
  store: CommandStore;
  /** Idempotency keys seen, per caller, for a day. */
  idempotency: IdempotencyStore;
  projectEvents: ProjectEvents;
  limits: RunLimits;
  logger: Logger;
  /** Told how each command ended (status, output size and digest). */
  audit?: { finished(e: { commandId: string; status: Command['status']; exitCode: number | null; outputBytes: number; outputSha256: string }): void };
  /** Output coalescing window, see {@link OutputChunker}. */
  coalesceMs?: number;
  /** Told where commands start, write and end (metrics); none of these change what happens. */
  metrics?: RunMetrics;
}

/**
 * Hooks the run manager calls where the events happen; an implementation must be cheap and must
 * not throw. Running and queued counts are not pushed here: read them with {@link RunManager.counts}.
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

/** A request to run a command. */
export interface StartRequest {
  projectId: string;
  kind: CommandKind;
  argv: string[];
  workdir?: string | null | undefined;
  timeoutSeconds?: number | null | undefined;
  stdin?: string | undefined;
  idempotencyKey?: string | null | undefined;
  /** Who asks (a token name); idempotency keys are per caller. */
  caller?: string | undefined;
}


interface Running {
  abort: AbortController;
  stop: StopReason | null;
  done: Promise<void>;
}

/** The one place that joins projects, executors and the event log: creates, queues, runs and ends commands. */
export class RunManager {
  private readonly running = new Map<string, Running>();
  private readonly queues = new Map<string, Array<{ command: Command; request: StartRequest }>>();
  private readonly meters = new Map<string, OutputMeter>();
  private queuedCount = 0;
  private closing = false;

  constructor(private readonly o: RunManagerOptions) {}

  /**
   * Validates, records and starts (or queues) a command; returns it at once. With an
   * idempotency key seen from the same caller within a day, returns that first command instead.
   */
  start(request: StartRequest): { command: Command; reused: boolean } {
    const caller = request.caller ?? '';
    const key = request.idempotencyKey ?? undefined;
    if (key) {
      const earlier = this.o.idempotency.find(caller, key, Date.now());
      const command = earlier ? this.o.store.get(earlier) : undefined;
      if (command) return { command, reused: true };
    }
    const project = this.o.registry.get(request.projectId);
    if (!project) throw new NotFoundError('project', request.projectId);
    const limits = this.o.limits;
    const timeoutSeconds = request.timeoutSeconds ?? (request.kind === 'CLAUDE' ? limits.claudeTimeoutSeconds : limits.defaultTimeoutSeconds);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) throw new BadUserInputError('timeoutSeconds', 'must be a whole number of seconds, at least 1');
    if (timeoutSeconds > limits.maxTimeoutSeconds) throw new BadUserInputError('timeoutSeconds', `must be at most ${limits.maxTimeoutSeconds} seconds`);
    const workdir = resolveWorkdir(project, request.workdir ?? '');
    if (project.status !== 'READY') throw new ProjectNotReadyError(project.id, project.status, project.statusMessage);
    if (this.closing) throw new ProjectNotReadyError(project.id, 'unavailable', 'the server is shutting down');
    // Behind others of the same project it waits its turn, even if a slot is free meanwhile.
    const mustQueue = !this.hasSlot(project.id) || (this.queues.get(project.id)?.length ?? 0) > 0;
    if (mustQueue && this.queuedCount >= limits.maxQueued) throw new TooManyCommandsError(limits.maxQueued);

    const ordinal = this.o.store.nextOrdinal();
    const command: Command = {
      id: `cmd-${project.id}-${ordinal.toString(36).padStart(4, '0')}${randomBytes(3).toString('hex')}`,
      ordinal,
      projectId: project.id,
      kind: request.kind,
      argv: request.argv,
      workdir,
      timeoutSeconds,
      status: 'QUEUED',
      exitCode: null,
      error: null,
      createdAt: new Date(),
      startedAt: null,
      finishedAt: null,
      durationMs: null,
      claude: request.kind === 'CLAUDE' ? { ...EMPTY_CLAUDE_SUMMARY } : null,
      prunedAt: null,
    };
    this.o.store.insert(command);
    if (key) this.o.idempotency.record(caller, key, command.id, Date.now());
    this.o.logger.info('command accepted', { commandId: command.id, projectId: project.id, kind: command.kind });
    if (mustQueue) {
      let queue = this.queues.get(project.id);
      if (!queue) this.queues.set(project.id, (queue = []));
      queue.push({ command, request });
      this.queuedCount++;
      this.publishStatus(command);
    } else {
      this.launch(command, request);
    }
    return { command, reused: false };
  }

  /** Stops a queued or running command; a finished one is returned as it is. */
  cancel(id: string): Command {
    const command = this.get(id);
    if (isFinal(command.status)) return command;
    const running = this.running.get(id);
    if (running) {
      running.stop ??= 'cancel';
      running.abort.abort();
      return command;
    }
    this.dequeue(command);
    return this.finish(command, { status: 'CANCELED', exitCode: null, error: null });
  }

  /** A command by id; throws NOT_FOUND. */
  get(id: string): Command {
    const command = this.o.store.get(id);
    if (!command) throw new NotFoundError('command', id);
    return command;
  }

  find(id: string): Command | undefined {
    return this.o.store.get(id);
  }

  list(query: CommandQuery): Command[] {
    return this.o.store.list(query);
  }

  /** A project's recent Claude sessions, newest first. */
  claudeSessions(projectId: string, limit: number): ClaudeSessionInfo[] {
    return recentClaudeSessions(this.o.store, projectId, limit);
  }

  /** Replays a command's events after `afterSeq`, then follows live until it completes. */
  follow(id: string, afterSeq: number, signal: AbortSignal): AsyncIterable<CommandEvent> {
    this.get(id);
    return this.o.log.follow(id, afterSeq, signal);
  }

  /** Stored events after `afterSeq`. */
  events(id: string, afterSeq: number, limit: number): CommandEvent[] {
    return this.o.log.read(id, afterSeq, limit);
  }

  /** The last `seq` of a command's log (0 when it has none). */
  lastSeq(id: string): number {
    return this.o.log.lastSeq(id);
  }

  /** How many commands are running now, and how many wait. */
  counts(): { running: number; queued: number } {
    return { running: this.running.size, queued: this.queuedCount };
  }

  /**
   * Refuses new commands, gives running ones `graceMs` to finish, then stops the rest (they end
   * as LOST), and marks queued ones LOST.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    for (const queue of this.queues.values()) {
      for (const { command } of queue.splice(0)) {
        this.queuedCount--;
        this.finish(command, { status: 'LOST', exitCode: null, error: 'server shut down before the command started' });
      }
    }
    const all = (): Promise<unknown> => Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const r of this.running.values()) {
      r.stop ??= 'shutdown';
      r.abort.abort();
    }
    await all();
  }

  /** Whether one more command of `projectId` may run now (per-project and total limits). */
  private hasSlot(projectId: string): boolean {
    return this.runningIn(projectId) < this.o.limits.maxConcurrentPerProject && this.running.size < this.o.limits.maxConcurrentTotal;
  }

  private runningIn(projectId: string): number {
    let n = 0;
    for (const id of this.running.keys()) if (this.o.store.get(id)?.projectId === projectId) n++;
    return n;
  }

  private dequeue(command: Command): void {
    const queue = this.queues.get(command.projectId);
    const at = queue?.findIndex((q) => q.command.id === command.id) ?? -1;
    if (queue && at >= 0) {
      queue.splice(at, 1);
      this.queuedCount--;
    }
  }

  /** Starts queued commands while there are slots: oldest first, across projects. */
  private pump(): void {
    for (;;) {
      let next: { command: Command; request: StartRequest } | undefined;
      for (const queue of this.queues.values()) {
        const head = queue[0];
        if (head && this.hasSlot(head.command.projectId) && (!next || head.command.ordinal < next.command.ordinal)) next = head;
      }
      if (!next) return;
      this.queues.get(next.command.projectId)!.shift();
      this.queuedCount--;
      this.launch(next.command, next.request);
    }
  }

  private append(command: Command, events: NewCommandEvent[]): void {
    const meter = this.meters.get(command.id);
    const admitted = meter ? meter.admit(events) : events;
    if (admitted.length === 0) return;
    for (const event of this.o.log.append(command.id, admitted)) {
      this.o.projectEvents.publish({ type: 'command-event', projectId: command.projectId, commandId: command.id, event });
    }
  }

  private publishStatus(command: Command): void {
    this.o.projectEvents.publish({ type: 'command-status', projectId: command.projectId, command: { ...command } });
  }

  private launch(queued: Command, request: StartRequest): void {
    const project = this.o.registry.get(queued.projectId);
    const command = this.o.store.update(queued.id, { status: 'RUNNING', startedAt: new Date() });
    const launchedAt = performance.now();
    this.meters.set(command.id, new OutputMeter(this.o.limits.maxOutputBytes));
    this.publishStatus(command);
    this.o.metrics?.started(command);
    let quiet = true;
    const abort = new AbortController();
    const entry: Running = { abort, stop: null, done: Promise.resolve() };
    this.running.set(command.id, entry);
    const stop = (reason: StopReason): void => {
      entry.stop ??= reason;
      abort.abort();
    };
    const timer = setTimeout(() => stop('timeout'), command.timeoutSeconds * 1000);
    // Watchdog: the Claude CLI is known to stop writing yet keep running (claude-code 39700, 17248).
    const idleSeconds = command.kind === 'CLAUDE' ? this.o.limits.claudeIdleTimeoutSeconds : 0;
    const idle = idleSeconds > 0 ? setTimeout(() => stop('idle'), idleSeconds * 1000) : undefined;
    const sink = this.sinkFor(command);
    const logger = this.o.logger.child({ commandId: command.id });
    logger.info('command started', { argv0: command.argv[0] });

    entry.done = (async () => {
      let state: FinalState;
      try {
        if (!project) throw new Error(`project ${command.projectId} disappeared`);
        const outcome = await this.o.executor.run({
          target: { projectId: project.id, workspace: project.workspace, pod: project.pod },
          argv: command.argv,
          workdir: command.workdir,
          stdin: request.stdin,
          onOutput: (stream, bytes) => {
            idle?.refresh();
            if (quiet) {
              quiet = false;
              this.o.metrics?.firstOutput(command, performance.now() - launchedAt);
            }
            this.o.metrics?.output(command, bytes.length);
            sink.write(stream, bytes);
          },
          signal: abort.signal,
        });
        state = finalState(outcome, entry.stop, command.timeoutSeconds, idleSeconds);
      } catch (err) {
        logger.error('executor failed', { err: String(err) });
        state = entry.stop
          ? finalState({ type: 'aborted' }, entry.stop, command.timeoutSeconds, idleSeconds)
          : { status: 'FAILED', exitCode: null, error: `could not run the command: ${(err as Error).message}` };
      } finally {
        clearTimeout(timer);
        clearTimeout(idle);
        sink.end();
      }
      if (command.claude) state = claudeFinalState(state, claudeFailure(command.claude, state.exitCode ?? 0));
      this.running.delete(command.id);
      this.finish(command, state);
      logger.info('command finished', { status: state.status, exitCode: state.exitCode });
      this.pump();
    })();
  }

  /** Where a command's output goes: Claude runs have their stream-json parsed, the rest is plain. */
  private sinkFor(command: Command): OutputSink {
    const chunker = new OutputChunker({
      coalesceMs: this.o.coalesceMs,
      emit: (chunks) => this.append(command, chunks.map((c) => ({ type: 'output', stream: c.stream, text: c.text, at: new Date() }))),
    });
    if (command.kind !== 'CLAUDE') return createPlainSink(chunker);
    return createClaudeSink(chunker, (message) => {
      this.append(command, [claudeEventOf(message, new Date())]);
      const summary = foldClaudeMessage(command.claude ?? EMPTY_CLAUDE_SUMMARY, message);
      if (summary !== command.claude) this.o.store.update(command.id, { claude: summary });
    });
  }

  private finish(command: Command, state: { status: Command['status']; exitCode: number | null; error: string | null }): Command {
    const meter = this.meters.get(command.id);
    this.meters.delete(command.id);
    const marker = meter?.marker();
    if (marker) this.append(command, [marker]);
    this.o.audit?.finished({ commandId: command.id, status: state.status, exitCode: state.exitCode, outputBytes: meter?.bytes ?? 0, outputSha256: (meter ?? new OutputMeter(0)).digest() });
    const finishedAt = new Date();
    const durationMs = command.startedAt ? finishedAt.getTime() - command.startedAt.getTime() : null;
    const updated = this.o.store.update(command.id, { ...state, finishedAt, durationMs });
    this.append(updated, [{ type: 'completed', status: state.status, exitCode: state.exitCode, durationMs: durationMs ?? 0, error: state.error, at: finishedAt }]);
    this.publishStatus(updated);
    this.o.metrics?.finished(updated);
    return updated;
  }
}
