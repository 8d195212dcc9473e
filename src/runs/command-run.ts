import type { AttachOutcome, Executor, Offsets, SupervisedRef } from '../exec/executor.js';
import type { Logger } from '../logger.js';
import type { Project } from '../projects/registry.js';
import { OutputChunker } from './chunker.js';
import { claudeEventOf } from './claude-stream.js';
import { claudeFailure, EMPTY_CLAUDE_SUMMARY, foldClaudeMessage } from './claude-summary.js';
import { finishCommand, isFenced, type FinishDeps } from './finish-command.js';
import { OutputMeter } from './output-meter.js';
import { createClaudeSink, createMeteredSink, createPlainSink, type OutputSink } from './output-sink.js';
import { claudeFinalState, finalState, type FinalState, type StopReason } from './status.js';
import type { Command, NewCommandEvent, OutputStream, SpoolPosition } from './types.js';

/** What a {@link CommandRun} needs; the run manager passes the same to every one. */
export interface CommandRunDeps extends FinishDeps {
  executor: Executor;
  logger: Logger;
  /** The project as the registry knows it now (undefined while it is not known). */
  project(id: string): Project | undefined;
  /** A Claude run that writes nothing for this long is stopped as TIMED_OUT (0: never). */
  claudeIdleTimeoutSeconds: number;
  /** Output kept per command; past it, output is dropped and one marker event says how much. */
  maxOutputBytes: number;
  /** How long a stopped command's group has after SIGTERM before SIGKILL. */
  killGraceMs: number;
  /** How long re-attaching may keep failing before the command is LOST. */
  reattachMs: number;
  /** Output coalescing window, see {@link OutputChunker}. */
  coalesceMs?: number | undefined;
}

/**
 * One command's life, from RUNNING to its final status: start it under its supervisor (or adopt
 * one a previous server started), attach to its spool and re-attach when the connection breaks,
 * turn its bytes into events, run its timers, stop it, and finish it. A restart adopting a command
 * goes through the same object as a fresh start ({@link begin} with `adopt`).
 *
 * Every appended event moves the command's stored spool position by exactly the bytes it holds
 * (in the same write), so a server that crashes resumes reading right after the last stored event.
 */
export class CommandRun {
  /** Settles when this object is done with the command: finished, or detached at shutdown. */
  readonly done: Promise<void>;
  private stop: StopReason | null = null;
  private detaching = false;
  private readonly attachAbort = new AbortController();
  private readonly sleepAbort = new AbortController();
  private killTimer: NodeJS.Timeout | undefined;
  /** True while the executor's start is in flight: a stop asked for meanwhile is sent once it has returned. */
  private starting = false;
  private resolveDone!: () => void;

  constructor(
    private readonly command: Command,
    private readonly d: CommandRunDeps,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  get id(): string {
    return this.command.id;
  }

  get projectId(): string {
    return this.command.projectId;
  }

  /** Starts the command (`start`: it was QUEUED) or follows the one a previous server started (`adopt`: it is RUNNING). */
  begin(mode: 'start' | 'adopt', stdin?: string): void {
    void this.life(mode, stdin)
      .catch((err: unknown) => this.d.logger.error('command run failed', { commandId: this.id, err: String(err) }))
      .finally(() => this.resolveDone());
  }

  /**
   * Stops the command: its process group gets SIGTERM, then SIGKILL after the grace; it ends as `reason` says.
   * Asked for while the start is still in flight (a cancel right after the mutation, on a busy machine), the
   * signals wait for the start to return: before, the group may not be recorded yet, and a signal that finds
   * none within its short wait is dropped, which left the command running for good.
   */
  requestStop(reason: StopReason): void {
    if (this.stop || this.detaching) return;
    this.stop = reason;
    if (!this.starting) this.sendStop();
  }

  private sendStop(): void {
    void this.signal('SIGTERM');
    this.killTimer = setTimeout(() => void this.signal('SIGKILL'), this.d.killGraceMs);
  }

  /** Stops following the command and leaves it running (server shutdown); it stays RUNNING in the history. */
  detach(): void {
    this.detaching = true;
    this.attachAbort.abort();
    this.sleepAbort.abort();
  }

  private ref(): SupervisedRef {
    const project = this.d.project(this.command.projectId);
    return { commandId: this.id, target: { projectId: this.command.projectId, workspace: project?.workspace ?? '', pod: project?.pod ?? null } };
  }

  private async signal(sig: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    try {
      await this.d.executor.signal(this.ref(), sig);
    } catch (err) {
      this.d.logger.warn('could not signal the command', { commandId: this.id, signal: sig, err: String(err) });
    }
  }

  private async life(mode: 'start' | 'adopt', stdin: string | undefined): Promise<void> {
    const d = this.d;
    const logger = d.logger.child({ commandId: this.id });
    if (mode === 'start') {
      this.update({ status: 'RUNNING', startedAt: this.command.startedAt ?? new Date(), spool: { pgid: null, stdout: 0, stderr: 0, logged: 0 } });
      this.publishStatus();
      d.metrics?.started(this.command);
      logger.info('command started', { argv0: this.command.argv[0] });
      const project = d.project(this.command.projectId);
      try {
        if (!project) throw new Error(`project ${this.command.projectId} disappeared`);
        this.starting = true;
        const started = await d.executor.start({ ...this.ref(), argv: this.command.argv, workdir: this.command.workdir, stdin }).finally(() => {
          this.starting = false;
        });
        this.update({ spool: { ...this.position(), pgid: started.pgid } });
        if (this.stop) this.sendStop();
      } catch (err) {
        logger.error('executor failed', { err: String(err) });
        await this.finish(new OutputMeter(d.maxOutputBytes), {
          status: 'FAILED',
          exitCode: null,
          error: `could not run the command: ${(err as Error).message}`,
        });
        return;
      }
    } else {
      logger.info('command adopted', { offsets: this.position() });
    }
    const startedAt = this.command.startedAt?.getTime() ?? Date.now();
    // An adopted command's meter goes on from what is stored: the cap holds across restarts.
    const meter = new OutputMeter(d.maxOutputBytes, this.position());
    const timeout = setTimeout(() => this.requestStop('timeout'), Math.max(0, startedAt + this.command.timeoutSeconds * 1000 - Date.now()));
    // Watchdog: the Claude CLI is known to stop writing yet keep running (claude-code 39700, 17248).
    const idleSeconds = this.command.kind === 'CLAUDE' ? d.claudeIdleTimeoutSeconds : 0;
    const idle = idleSeconds > 0 ? setTimeout(() => this.requestStop('idle'), idleSeconds * 1000) : undefined;
    const sink = this.sink(meter);
    let outcome: AttachOutcome;
    try {
      outcome = await this.follow(sink, idle, logger);
    } finally {
      clearTimeout(timeout);
      clearTimeout(idle);
      clearTimeout(this.killTimer);
    }
    if (outcome.type === 'detached') {
      sink.dispose();
      logger.info('command detached', { offsets: this.position() });
      return;
    }
    sink.end();
    let state: FinalState = finalState(
      outcome.type === 'exited' ? outcome : { type: 'lost', reason: outcome.reason },
      this.stop,
      this.command.timeoutSeconds,
      idleSeconds,
    );
    if (this.command.claude) state = claudeFinalState(state, claudeFailure(this.command.claude, state.exitCode ?? 0));
    // The spool goes only once the final record is durable: until then a replica that takes the
    // command over (this one's lease lapsed) still needs it. Not awaited: the command holds no slot meanwhile.
    if (!(await this.finish(meter, state))) return;
    logger.info('command finished', { status: state.status, exitCode: state.exitCode });
    if (outcome.type === 'exited') void d.executor.remove(this.ref()).catch((err: unknown) => logger.warn('could not remove the spool', { err: String(err) }));
  }

  /** Attaches until the command ends or this run detaches; re-attaches with backoff while it keeps failing for less than `reattachMs`. */
  private async follow(sink: OutputSink, idle: NodeJS.Timeout | undefined, logger: Logger): Promise<AttachOutcome> {
    const d = this.d;
    const startedRunning = performance.now();
    let quiet = true;
    // Bytes read so far (the sink may hold some not yet logged): where a re-attach of this process resumes.
    const read: Offsets = { stdout: this.position().stdout, stderr: this.position().stderr };
    let failingSince: number | undefined;
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      if (this.detaching) return { type: 'detached' };
      const ref = this.ref();
      let outcome: AttachOutcome;
      // One attach; aborted by a detach, or by this run when the log is backlogged (it resumes at `read` once drained).
      const attempt = new AbortController();
      const onDetach = (): void => attempt.abort();
      this.attachAbort.signal.addEventListener('abort', onDetach, { once: true });
      let backlogged = false;
      if (!d.project(this.command.projectId)) {
        outcome = { type: 'disconnected', reason: `project ${this.command.projectId} is not available` };
      } else {
        outcome = await d.executor
          .attach({
            ...ref,
            offsets: { ...read },
            signal: attempt.signal,
            onOutput: (stream, bytes) => {
              if (stream === 'STDOUT') read.stdout += bytes.length;
              else read.stderr += bytes.length;
              idle?.refresh();
              failingSince = undefined;
              if (quiet) {
                quiet = false;
                d.metrics?.firstOutput(this.command, performance.now() - startedRunning);
              }
              d.metrics?.output(this.command, bytes.length);
              sink.write(stream, bytes);
              if (!backlogged && d.log.backlogged?.()) {
                backlogged = true;
                attempt.abort();
              }
            },
          })
          .catch((err: unknown): AttachOutcome => ({ type: 'disconnected', reason: (err as Error).message }));
      }
      this.attachAbort.signal.removeEventListener('abort', onDetach);
      if (backlogged && !this.detaching && outcome.type === 'detached') {
        // The output is safe in the spool: read on once the history has caught up. Not a failure.
        logger.warn("the history store is behind: pausing this command's output until it catches up", { offsets: { ...read } });
        await Promise.race([d.log.drained?.(), new Promise((r) => this.attachAbort.signal.addEventListener('abort', r, { once: true }))]);
        delay = 50;
        continue;
      }
      if (outcome.type !== 'disconnected') return outcome;
      failingSince ??= performance.now();
      const failedFor = performance.now() - failingSince;
      if (failedFor >= d.reattachMs) {
        return { type: 'lost', reason: `could not re-attach for ${Math.round(failedFor / 1000)} s: ${outcome.reason}` };
      }
      logger.warn('re-attaching', { reason: outcome.reason, inMs: delay });
      await sleep(delay, this.sleepAbort.signal);
    }
  }

  private position(): SpoolPosition {
    return this.command.spool ?? { pgid: null, stdout: 0, stderr: 0 };
  }

  /**
   * Logs the events the meter admitted of those that cover `covered` more bytes of each stream, `logged` bytes
   * logged in all so far (the meter's count): the position moves in the same write.
   */
  private append(admitted: NewCommandEvent[], covered: Partial<Record<OutputStream, number>>, logged: number): void {
    const at = this.position();
    const moved = { ...at, stdout: at.stdout + (covered.STDOUT ?? 0), stderr: at.stderr + (covered.STDERR ?? 0), logged };
    if (moved.stdout !== at.stdout || moved.stderr !== at.stderr) this.update({ spool: moved });
    if (admitted.length > 0) this.d.log.append(this.id, admitted).catch((err: unknown) => this.lostWrite(err));
  }

  /**
   * Applies `patch` to the command at once and writes it (with the events appended before it).
   * A write that fails is reported, never thrown: a fenced one means another replica runs the command now.
   */
  private update(patch: Partial<Command>): void {
    // The store first: it compares with the record as it was (a status change is announced to the other replicas).
    this.d.store.update(this.id, patch).catch((err: unknown) => this.lostWrite(err));
    Object.assign(this.command, patch);
  }

  private lostWrite(err: unknown): void {
    if (isFenced(err)) this.detach();
    else this.d.logger.error("could not record the command's progress", { commandId: this.id, err: String(err) });
  }

  /** Where the command's output goes: counted and hashed as it comes, then Claude runs have their stream-json parsed, the rest is plain. */
  private sink(meter: OutputMeter): OutputSink {
    const chunker = new OutputChunker({
      coalesceMs: this.d.coalesceMs,
      emit: (chunks) => {
        const covered = { STDOUT: 0, STDERR: 0 };
        for (const c of chunks) covered[c.stream] += Buffer.byteLength(c.text);
        this.append(meter.admit(chunks.map((c) => ({ type: 'output', stream: c.stream, text: c.text, at: new Date() }))), covered, meter.kept);
      },
    });
    if (this.command.kind !== 'CLAUDE') return createMeteredSink(meter, createPlainSink(chunker));
    return createMeteredSink(
      meter,
      createClaudeSink(chunker, (message, bytes) => {
        this.append(meter.admitMessage(claudeEventOf(message, new Date()), bytes), { STDOUT: bytes }, meter.kept);
        const summary = foldClaudeMessage(this.command.claude ?? EMPTY_CLAUDE_SUMMARY, message);
        if (summary !== this.command.claude) this.update({ claude: summary });
      }),
    );
  }

  private publishStatus(): void {
    this.d.projectEvents.publish({ type: 'command-status', projectId: this.command.projectId, command: { ...this.command } });
  }

  /** Records the final state; false when it could not be (another replica owns the command now). */
  private async finish(meter: OutputMeter, state: FinalState): Promise<boolean> {
    // The marker is past the cap by nature: it goes in without the meter.
    const marker = meter.marker();
    if (marker) this.d.log.append(this.id, [marker]).catch(() => {}); // its failure is the final write's too
    try {
      await finishCommand(this.d, this.command, state, meter);
      return true;
    } catch (err) {
      if (isFenced(err)) {
        this.d.logger.warn('another replica took the command over: its end is theirs to record', { commandId: this.id });
        return false;
      }
      this.d.logger.error('could not record the end of the command', { commandId: this.id, err: String(err) });
      return false;
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
