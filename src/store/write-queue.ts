import type Database from 'better-sqlite3';
import type { Logger } from '../logger.js';
import type { Command, CommandEvent } from '../runs/types.js';
import { commandParams, INSERT_EVENT_SQL, insertEvent } from './rows.js';

/** The events of one append, as queued. */
interface Appended {
  commandId: string;
  events: CommandEvent[];
}

/** What one committed batch held. */
export interface FlushStats {
  events: number;
  commands: number;
  /** Output bytes in the batch (UTF-8 text of output and claude events, and claude messages' JSON). */
  bytes: number;
  /** How long the transaction took. */
  ms: number;
  /** Per command, the last seq the batch made durable. */
  lastSeqs: ReadonlyMap<string, number>;
}

/** When batches are written. */
export interface WriteQueueOptions {
  /** How long an appended event may wait in memory before its batch is written; 0 writes every append at once. */
  flushMs: number;
  /** A batch is written at once when it holds this many events… */
  maxBatch: number;
  /** …or about this many output bytes (counted as characters until the write counts bytes). */
  maxBatchBytes: number;
  logger?: Logger | undefined;
  /** Called after each committed batch (metrics, tests). */
  onFlush?: ((stats: FlushStats) => void) | undefined;
}

/**
 * Holds what was appended or changed but not yet written, and writes it in one transaction per
 * batch: on a timer of `flushMs` after the first pending write, when a batch is full, and at once
 * when a command completes (its final record and its `completed` event commit together). A write
 * after a quiet spell (no batch in the last `flushMs`) has nothing to be batched with: it goes once
 * the event loop's current turn is through (group commit), so a trickle of output is stored, and so
 * delivered, at once rather than up to `flushMs` later; a steady stream is still written every `flushMs`.
 * Reads go through {@link tail} and {@link pendingCommand}, so nothing pending is invisible.
 */
export class WriteQueue {
  private appended: Appended[] = [];
  private eventCount = 0;
  private chars = 0;
  private readonly tails = new Map<string, CommandEvent[]>();
  private readonly commands = new Map<string, Command>();
  private timer: NodeJS.Timeout | undefined;
  /** The write after a quiet spell, at the end of this turn (see the class comment). */
  private immediate: NodeJS.Immediate | undefined;
  /** When the last batch was written (`performance.now()`; at first, when the queue was made). */
  private lastFlushAt = performance.now();
  private soonQueued = false;
  private closed = false;
  /** Who waits for what is pending now to be written (see {@link written}). */
  private writtenWaiters: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  private readonly write: (appended: Appended[], commands: Command[], extra: (() => void) | undefined) => number;

  constructor(
    db: Database.Database,
    private readonly o: WriteQueueOptions,
  ) {
    const inserts = {
      output: db.prepare(INSERT_EVENT_SQL.output),
      claude: db.prepare(INSERT_EVENT_SQL.claude),
      completed: db.prepare(INSERT_EVENT_SQL.completed),
    };
    const addTotals = db.prepare(
      `INSERT INTO output_totals (command_id, events, bytes) VALUES (?, ?, ?)
       ON CONFLICT (command_id) DO UPDATE SET events = events + excluded.events, bytes = bytes + excluded.bytes`,
    );
    const upsertCommand = db.prepare(
      `INSERT INTO commands (id, ordinal, project_id, kind, argv, workdir, timeout_seconds, status, exit_code, error, created_at,
         started_at, finished_at, duration_ms, claude, pgid, stdout_offset, stderr_offset, output_logged)
       VALUES (@id, @ordinal, @project_id, @kind, @argv, @workdir, @timeout_seconds, @status, @exit_code, @error, @created_at,
         @started_at, @finished_at, @duration_ms, @claude, @pgid, @stdout_offset, @stderr_offset, @output_logged)
       ON CONFLICT (id) DO UPDATE SET ordinal = excluded.ordinal, project_id = excluded.project_id, kind = excluded.kind, argv = excluded.argv,
         workdir = excluded.workdir, timeout_seconds = excluded.timeout_seconds, status = excluded.status, exit_code = excluded.exit_code,
         error = excluded.error, created_at = excluded.created_at, started_at = excluded.started_at, finished_at = excluded.finished_at,
         duration_ms = excluded.duration_ms, claude = excluded.claude, pgid = excluded.pgid, stdout_offset = excluded.stdout_offset,
         stderr_offset = excluded.stderr_offset, output_logged = excluded.output_logged`,
    );
    this.write = db.transaction((appended: Appended[], commands: Command[], extra: (() => void) | undefined) => {
      const totals = new Map<string, { events: number; bytes: number }>();
      let written = 0;
      for (const { commandId, events } of appended) {
        let n = 0;
        let bytes = 0;
        for (const e of events) {
          bytes += insertEvent(inserts, commandId, e);
          if (e.type !== 'completed') n++;
        }
        written += bytes;
        const t = totals.get(commandId);
        if (t) {
          t.events += n;
          t.bytes += bytes;
        } else totals.set(commandId, { events: n, bytes });
      }
      for (const [id, t] of totals) if (t.events > 0) addTotals.run(id, t.events, t.bytes);
      for (const c of commands) upsertCommand.run(commandParams(c));
      extra?.();
      return written;
    });
  }

  /** Queues events the log has numbered; they are readable through {@link tail} until written. */
  addEvents(commandId: string, stored: CommandEvent[]): void {
    this.assertOpen();
    if (stored.length === 0) return;
    let tail = this.tails.get(commandId);
    if (!tail) this.tails.set(commandId, (tail = []));
    let completed = false;
    for (const e of stored) {
      tail.push(e);
      if (e.type === 'completed') completed = true;
      else this.chars += e.text.length;
    }
    this.appended.push({ commandId, events: stored.slice() });
    this.eventCount += stored.length;
    if (completed || this.o.flushMs <= 0 || this.eventCount >= this.o.maxBatch || this.chars >= this.o.maxBatchBytes) this.autoFlush();
    else this.arm();
  }

  /**
   * Queues the current state of a command record. `final`: the command has just ended; its
   * record is written before the event loop turns (with the `completed` event the run manager
   * appends right after, in the same transaction).
   */
  putCommand(command: Command, final: boolean): void {
    this.assertOpen();
    this.commands.set(command.id, command);
    if (this.o.flushMs <= 0) this.autoFlush();
    else if (final) this.soon();
    else this.arm();
  }

  /**
   * Resolves once everything pending now is written (at once when nothing is); rejects if the
   * queue closes first without writing it. A failed write is retried, so this waits on.
   */
  written(): Promise<void> {
    if (this.appended.length === 0 && this.commands.size === 0) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => this.writtenWaiters.push({ resolve, reject }));
  }

  /** Events of a command appended but not yet written, in seq order (undefined when there are none). */
  tail(commandId: string): readonly CommandEvent[] | undefined {
    return this.tails.get(commandId);
  }

  /** A command record changed but not yet written. */
  pendingCommand(id: string): Command | undefined {
    return this.commands.get(id);
  }

  /** Every command record changed but not yet written. */
  pendingCommands(): Command[] {
    return [...this.commands.values()];
  }

  /** Writes everything pending, with `extra` (more statements) in the same transaction; throws if the write fails. */
  flush(extra?: () => void): void {
    this.assertOpen();
    if (this.appended.length === 0 && this.commands.size === 0 && !extra) return;
    const appended = this.appended;
    const waiters = this.writtenWaiters;
    const events = this.eventCount;
    const commands = [...this.commands.values()];
    const start = performance.now();
    const bytes = this.write(appended, commands, extra);
    const ms = performance.now() - start;
    const lastSeqs = new Map<string, number>();
    for (const a of appended) lastSeqs.set(a.commandId, a.events.at(-1)!.seq);
    // Only what was written is dropped: a command updated again by `extra` stays queued.
    this.appended = [];
    this.eventCount = 0;
    this.chars = 0;
    this.tails.clear();
    for (const c of commands) if (this.commands.get(c.id) === c) this.commands.delete(c.id);
    clearTimeout(this.timer);
    this.timer = undefined;
    clearImmediate(this.immediate);
    this.immediate = undefined;
    this.lastFlushAt = performance.now();
    // Everything pending when those waited was in this batch, unless a command changed again meanwhile (it stays queued).
    this.writtenWaiters = [];
    for (const w of waiters) w.resolve();
    if (ms > 1000) this.o.logger?.warn('store: slow batch write', { ms: Math.round(ms), events, bytes });
    this.o.onFlush?.({ events, commands: commands.length, bytes, ms, lastSeqs });
  }

  /** Writes what is pending and stops the timer; the queue takes nothing more. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } finally {
      clearTimeout(this.timer);
      this.timer = undefined;
      clearImmediate(this.immediate);
      this.immediate = undefined;
      this.closed = true;
      for (const w of this.writtenWaiters.splice(0)) w.reject(new Error('the store closed before the change was written'));
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** A flush nobody waits on: a failure is logged and retried after `flushMs`, the data stays queued. */
  private autoFlush(): void {
    try {
      this.flush();
    } catch (err) {
      this.o.logger?.error('store: batch write failed, will retry', { err: String(err), events: this.eventCount, commands: this.commands.size });
      this.arm(true);
    }
  }

  /**
   * Writes what is queued at the end of this turn when no batch was written in the last `flushMs` (group commit's
   * leading edge), else once `flushMs` has passed since the last batch (not `flushMs` from now: a line every
   * `flushMs` or so would otherwise wait nearly a whole `flushMs` for nothing); a retry waits `flushMs`, at least 1 s.
   */
  private arm(retry = false): void {
    if (this.timer || this.immediate || this.closed) return;
    const sinceLast = performance.now() - this.lastFlushAt;
    if (!retry && sinceLast >= this.o.flushMs) {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.autoFlush();
      });
      return;
    }
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.autoFlush();
      },
      retry ? Math.max(this.o.flushMs, 1000) : Math.max(1, this.o.flushMs - sinceLast),
    );
  }

  private soon(): void {
    if (this.soonQueued) return;
    this.soonQueued = true;
    queueMicrotask(() => {
      this.soonQueued = false;
      if (!this.closed && (this.appended.length > 0 || this.commands.size > 0)) this.autoFlush();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}
