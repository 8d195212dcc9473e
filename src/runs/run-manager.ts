import type { AuditLog } from '../audit/audit-log.js';
import type { Executor } from '../exec/executor.js';
import { BadUserInputError, NotFoundError, ProjectNotReadyError } from '../errors.js';
import type { Logger } from '../logger.js';
import { findProject } from '../projects/find-project.js';
import type { ProjectRegistry } from '../projects/registry.js';
import { projectIdOfCommand, type CommandQuery, type CommandStore, type NewCommand } from './command-store.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import type { EventLog } from './event-log.js';
import type { ProjectEvents } from './project-events.js';
import { recentClaudeSessions, type ClaudeSessionInfo } from './claude-sessions.js';
import { EMPTY_CLAUDE_SUMMARY } from './claude-summary.js';
import { CommandRun, type CommandRunDeps } from './command-run.js';
import { finishCommand, type RunMetrics } from './finish-command.js';
import type { Coordinator, LocalRun } from './coordinator.js';
import { LocalCoordinator } from './local-coordinator.js';
import { isFinal, type Command, type CommandEvent, type CommandKind } from './types.js';
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
  /** How long re-attaching to a running command may keep failing before it is LOST. */
  reattachSeconds: number;
  /** At shutdown: `detach` leaves running commands running (a later server adopts them), `stop` stops them. */
  onShutdown: 'detach' | 'stop';
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
  /** Told of each command accepted (before it can run, so before its end) and of how it ended (status, output size and digest). */
  audit?: Pick<AuditLog, 'accepted' | 'finished'>;
  /** Output coalescing window, see `OutputChunker`. */
  coalesceMs?: number;
  /**
   * How long a stopped command's group has after SIGTERM before SIGKILL.
   * @default 2000
   */
  killGraceMs?: number;
  /** Told where commands start, write and end (metrics); none of these change what happens. */
  metrics?: RunMetrics;
  /**
   * Builds the coordinator that admits and places commands (replicas on PostgreSQL bring a
   * cluster-wide one); default: one process on its own store ({@link LocalCoordinator}).
   */
  coordinator?: (hooks: CoordinatorHooks) => Coordinator;
}

/** What the run manager hands a coordinator: how to run a command here and how to end one that never ran. */
export interface CoordinatorHooks {
  /** Starts (`start`) or follows (`adopt`) a command in this process. */
  launch(command: Command, mode: 'start' | 'adopt', stdin: string | undefined): LocalRun;
  /** Ends a QUEUED command that will never run. */
  finishQueued(command: Command, status: 'CANCELED'): Promise<Command>;
  /** Tells project subscribers that a command now waits. */
  queued(command: Command): void;
  /** A new command was recorded (QUEUED, or RUNNING and about to be launched) for `caller`: called before it is launched. */
  accepted(command: Command, caller: string): void;
  /** A command's status changed in another process (a replica): this one's project subscribers hear of it. */
  statusElsewhere(commandId: string): void;
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

/**
 * The one place that joins projects, executors and the event log: validates, records, schedules
 * ({@link Scheduler}) and hands each command to its {@link CommandRun}. After a restart,
 * {@link adopt} takes over what the history says is RUNNING or QUEUED.
 */
export class RunManager {
  private readonly coordinator: Coordinator;
  private readonly deps: CommandRunDeps;
  private closing = false;
  private readonly unlisten: () => void;
  /** How long a stopped command's group has after SIGTERM before SIGKILL. */
  readonly killGraceMs: number;

  constructor(private readonly o: RunManagerOptions) {
    this.killGraceMs = o.killGraceMs ?? 2000;
    this.deps = {
      executor: o.executor,
      log: o.log,
      store: o.store,
      projectEvents: o.projectEvents,
      logger: o.logger,
      project: (id) => o.registry.get(id),
      claudeIdleTimeoutSeconds: o.limits.claudeIdleTimeoutSeconds,
      maxOutputBytes: o.limits.maxOutputBytes,
      killGraceMs: this.killGraceMs,
      reattachMs: o.limits.reattachSeconds * 1000,
      coalesceMs: o.coalesceMs,
      audit: o.audit,
      metrics: o.metrics,
    };
    // Project-wide subscribers get a command's events once they are durable, like its own followers.
    this.unlisten = o.log.onDurable((commandId, events) => {
      const projectId = projectIdOfCommand(commandId);
      for (const event of events) o.projectEvents.publish({ type: 'command-event', projectId, commandId, event });
    });
    const hooks: CoordinatorHooks = {
      launch: (command, mode, stdin) => {
        const run = new CommandRun(command, this.deps);
        run.begin(mode, stdin);
        return run;
      },
      finishQueued: (command, status) => finishCommand(this.deps, command, { status, exitCode: null, error: null }),
      queued: (command) => this.publishStatus(command),
      accepted: (command, caller) => {
        o.logger.info('command accepted', { commandId: command.id, projectId: command.projectId, kind: command.kind, status: command.status });
        // Here, before the launch: a command that ends at once is still audited accepted before finished.
        o.audit?.accepted({ caller, projectId: command.projectId, kind: command.kind, argv: command.argv, commandId: command.id });
      },
      statusElsewhere: (commandId) => {
        if (o.projectEvents.subscriberCount(projectIdOfCommand(commandId)) === 0) return;
        o.store.get(commandId).then(
          (command) => command && this.publishStatus(command),
          (err: unknown) => o.logger.warn('could not read a command another replica changed', { commandId, err: String(err) }),
        );
      },
    };
    this.coordinator = o.coordinator ? o.coordinator(hooks) : new LocalCoordinator({ store: o.store, idempotency: o.idempotency, limits: o.limits, ...hooks });
  }

  /**
   * Takes over what a previous server left: RUNNING commands are followed again from their stored
   * spool position (finished meanwhile: their final status and all their output), QUEUED ones
   * wait again in their order. Call once, before the server takes requests.
   */
  adopt(): Promise<{ running: number; queued: number }> {
    return this.coordinator.adopt();
  }

  /**
   * Validates, records and starts (or queues) a command; resolves with it at once (RUNNING or
   * QUEUED). With an idempotency key seen from the same caller within a day, resolves with that
   * first command instead.
   */
  async start(request: StartRequest): Promise<{ command: Command; reused: boolean }> {
    const caller = request.caller ?? '';
    const key = request.idempotencyKey ?? undefined;
    if (key) {
      // The common retry, answered without the admission's checks (which would refuse it while the project is busy or down).
      const earlier = await this.o.idempotency.find(caller, key, Date.now());
      const command = earlier === undefined ? undefined : await this.o.store.get(earlier);
      if (command) return { command, reused: true };
    }
    const project = await findProject(this.o.registry, request.projectId);
    if (!project) throw new NotFoundError('project', request.projectId);
    const limits = this.o.limits;
    const timeoutSeconds = request.timeoutSeconds ?? (request.kind === 'CLAUDE' ? limits.claudeTimeoutSeconds : limits.defaultTimeoutSeconds);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) throw new BadUserInputError('timeoutSeconds', 'must be a whole number of seconds, at least 1');
    if (timeoutSeconds > limits.maxTimeoutSeconds) throw new BadUserInputError('timeoutSeconds', `must be at most ${limits.maxTimeoutSeconds} seconds`);
    const workdir = resolveWorkdir(project, request.workdir ?? '');
    if (project.status !== 'READY') throw new ProjectNotReadyError(project.id, project.status, project.statusMessage);
    if (this.closing) throw new ProjectNotReadyError(project.id, 'unavailable', 'the server is shutting down');

    const draft: NewCommand = {
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
      spool: null,
    };
    return this.coordinator.admit({ draft, caller, idempotencyKey: key, stdin: request.stdin });
  }

  /** Stops a queued or running command (wherever it runs); a finished one is returned as it is. */
  async cancel(id: string): Promise<Command> {
    const command = await this.get(id);
    if (isFinal(command.status)) return command;
    return this.coordinator.cancel(command);
  }

  /** A command by id; throws NOT_FOUND. */
  async get(id: string): Promise<Command> {
    const command = await this.o.store.get(id);
    if (!command) throw new NotFoundError('command', id);
    return command;
  }

  find(id: string): Promise<Command | undefined> {
    return this.o.store.get(id);
  }

  list(query: CommandQuery): Promise<Command[]> {
    return this.o.store.list(query);
  }

  /** A project's recent Claude sessions, newest first. */
  claudeSessions(projectId: string, limit: number): Promise<ClaudeSessionInfo[]> {
    return recentClaudeSessions(this.o.store, projectId, limit);
  }

  /** Replays a command's events after `afterSeq`, then follows live until it completes (the command must exist: see {@link get}). */
  follow(id: string, afterSeq: number, signal: AbortSignal): AsyncIterable<CommandEvent> {
    return this.o.log.follow(id, afterSeq, signal);
  }

  /** Stored events after `afterSeq`. */
  events(id: string, afterSeq: number, limit: number): Promise<CommandEvent[]> {
    return this.o.log.read(id, afterSeq, limit);
  }

  /** The last durable `seq` of a command's log, the last one readers can see (0 when it has none). */
  lastSeq(id: string): Promise<number> {
    return this.o.log.durableSeq(id);
  }

  /** How many commands are running now, and how many wait. */
  counts(): { running: number; queued: number } | Promise<{ running: number; queued: number }> {
    return this.coordinator.counts();
  }

  /**
   * Refuses new commands. `detach` (the default): stops following running commands, which run on
   * and stay RUNNING, and leaves queued ones QUEUED, for the next server to adopt. `stop`: gives
   * running commands `graceMs` to finish, then stops the rest (they end LOST), and marks queued ones LOST.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    try {
      await this.coordinator.close();
      await this.stopAll(graceMs);
    } finally {
      this.unlisten();
    }
  }

  private async stopAll(graceMs: number): Promise<void> {
    const runs = this.coordinator.localRuns();
    if (this.o.limits.onShutdown === 'detach') {
      for (const run of runs) run.detach();
      await Promise.all(runs.map((r) => r.done));
      return;
    }
    await Promise.all(
      this.coordinator
        .drainQueued()
        .map((command) =>
          finishCommand(this.deps, command, { status: 'LOST', exitCode: null, error: 'server shut down before the command started' }).catch((err: unknown) =>
            this.o.logger.error('could not record a queued command as LOST', { commandId: command.id, err: String(err) }),
          ),
        ),
    );
    const all = (): Promise<unknown> => Promise.all(this.coordinator.localRuns().map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const run of this.coordinator.localRuns()) run.requestStop('shutdown');
    // A workspace that cannot be reached cannot be stopped: past the kill grace, leave it to the next server.
    await Promise.race([all(), new Promise((r) => (timer = setTimeout(r, this.killGraceMs + 5000)))]);
    clearTimeout(timer);
    for (const run of this.coordinator.localRuns()) run.detach();
    await all();
  }

  private publishStatus(command: Command): void {
    this.o.projectEvents.publish({ type: 'command-status', projectId: command.projectId, command: { ...command } });
  }
}
