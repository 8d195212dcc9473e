import type { Logger } from '../../logger.js';
import type { CommandEvent } from '../../runs/types.js';
import { nextRetryMs, sleep } from './backoff.js';
import { FencedError, isRetryable } from './errors.js';
import type { StoreFence } from './fence.js';
import { CHANNELS } from './notifications.js';
import type { Db } from './pool.js';
import { writeBatch, type Item, type Written } from './batch.js';

/** What one committed batch held. */
export interface FlushStats {
  events: number;
  /** Command rows written. */
  commands: number;
  /** How long the transaction took, retries not counted. */
  ms: number;
}

export interface PgWriteQueueOptions {
  db: Db;
  fence: StoreFence;
  /** Named in the notifications of each commit, so that this process can tell its own. */
  replicaId: string;
  /** How long an appended event may wait before its batch is written. */
  flushMs: number;
  /** Output bytes held unwritten above which {@link PgWriteQueue.backlogged} is true. */
  maxPendingBytes: number;
  /** A batch takes queued writes up to this many events… @default 10000 */
  maxBatch?: number;
  /** …or this many output bytes. @default 8388608 (8 MiB) */
  maxBatchBytes?: number;
  logger?: Logger | undefined;
  /** Called after each commit with exactly the events it made durable, per command in seq order. Must not throw. */
  onCommit(committed: ReadonlyMap<string, CommandEvent[]>, stats: FlushStats): void;
}

/**
 * Holds appended events and changed command rows until they are written, in one transaction per
 * batch: `flushMs` after the first queued write (at the end of the turn after a quiet spell, see
 * `arm`), at once when a command completes, and at once after the batch in flight when the queue
 * holds a batch's worth. One batch is in flight at a
 * time; what comes meanwhile queues behind it, so writes commit in the order they were queued.
 *
 * A batch that fails because the database is away is retried (250 ms, doubling to 5 s) until it
 * commits: nothing is lost or reordered, and nothing throws out of a timer. One that fails on its
 * data is written again command by command, and only the command whose writes fail is dropped
 * (logged). Fencing: see `batch.ts` and {@link StoreFence}.
 */
export class PgWriteQueue {
  private queued: Item[] = [];
  private queuedEvents = 0;
  private queuedBytes = 0;
  private flightBytes = 0;
  private flight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The batch after a quiet spell, at the end of this turn (see {@link arm}). */
  private immediate: NodeJS.Immediate | undefined;
  /** When the last batch was sent (`performance.now()`; at first, when the queue was made). */
  private lastKickAt = performance.now();
  /** Resolves when `close` gives up waiting for the database (a retry's wait ends early then). */
  private readonly givingUp: Promise<void>;
  private giveUp!: () => void;
  private due = false;
  private soonQueued = false;
  private closed = false;
  private givenUp = false;
  private retryMs = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;

  constructor(private readonly o: PgWriteQueueOptions) {
    this.maxBatch = o.maxBatch ?? 10_000;
    this.maxBatchBytes = o.maxBatchBytes ?? 8 * 1024 * 1024;
    this.givingUp = new Promise((resolve) => (this.giveUp = resolve));
  }

  /** Queues events the log has numbered (in seq order, after those queued before for the command). */
  addEvents(commandId: string, events: CommandEvent[]): void {
    this.assertOpen();
    if (events.length === 0) return;
    let bytes = 0;
    let completed = false;
    for (const e of events) {
      if (e.type === 'completed') completed = true;
      else bytes += Buffer.byteLength(e.text);
    }
    this.queued.push({ kind: 'events', commandId, events, bytes });
    this.queuedEvents += events.length;
    this.queuedBytes += bytes;
    if (completed) this.soon();
    else if (this.queuedEvents >= this.maxBatch || this.queuedBytes >= this.maxBatchBytes) this.kick();
    else this.arm();
  }

  /**
   * Queues a command row (the values of `COMMAND_COLUMNS`, taken when the change was made);
   * resolves once it is written, rejects with `FencedError` when the fence dropped it.
   * `final`: the command has just ended (its row and `completed` event are written at once).
   */
  putRow(commandId: string, values: unknown[], o: { statusChanged: boolean; final: boolean }): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    return new Promise((resolve, reject) => {
      this.queued.push({ kind: 'row', commandId, values, statusChanged: o.statusChanged, waiter: { resolve, reject } });
      if (o.final) this.soon();
      else this.arm();
    });
  }

  /** Resolves once everything queued before the call is written (or dropped: see {@link close}); rejects when the store is closed. */
  flushed(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the store is closed'));
    if (this.queued.length === 0 && !this.flight) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queued.push({ kind: 'barrier', commandId: '', waiter: { resolve, reject } });
      this.kick();
    });
  }

  /** Output bytes queued or in flight, not yet committed. */
  get pendingBytes(): number {
    return this.queuedBytes + this.flightBytes;
  }

  backlogged(): boolean {
    return this.pendingBytes > this.o.maxPendingBytes;
  }

  drained(): Promise<void> {
    if (!this.backlogged()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Takes no more writes and writes what is queued, for at most `waitMs`; what is left then
   * (the database is away) is dropped and logged, and its row writes rejected.
   */
  async close(waitMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    clearImmediate(this.immediate);
    this.immediate = undefined;
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      deadline = setTimeout(() => {
        this.givenUp = true;
        this.giveUp();
        resolve();
      }, waitMs);
    });
    try {
      while (!this.givenUp && (this.flight || this.queued.length > 0)) {
        if (!this.flight) this.kick();
        await Promise.race([this.flight, timedOut]);
      }
    } finally {
      clearTimeout(deadline);
    }
    this.givenUp = true;
    if (this.queued.length > 0) this.fail(this.queued.splice(0), new Error('the store closed before these writes could be made'));
    this.queuedEvents = 0;
    this.queuedBytes = 0;
    // Nothing will be written any more: whoever waits for room stops waiting.
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** Drops every queued write of a fenced command; its row writes are rejected with {@link FencedError}. */
  private discard(commandId: string): void {
    const dropped: Item[] = [];
    this.queued = this.queued.filter((item) => (item.commandId === commandId ? (dropped.push(item), false) : true));
    for (const item of dropped) {
      if (item.kind !== 'events') item.waiter.reject(new FencedError(commandId));
      else {
        this.queuedEvents -= item.events.length;
        this.queuedBytes -= item.bytes;
      }
    }
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.flight) {
      this.due = true;
      return;
    }
    this.due = false;
    if (this.queued.length === 0 || this.givenUp) return;
    const batch = this.cut();
    this.lastKickAt = performance.now();
    const done = (): void => {
      this.flight = undefined;
      this.flightBytes = 0;
      this.afterFlight();
    };
    this.flight = this.run(batch).then(done, (err: unknown) => {
      this.o.logger?.error('store: batch write crashed', { err: String(err) });
      done();
    });
  }

  /** The oldest queued writes, up to a batch's worth (at least one). */
  private cut(): Item[] {
    let n = 0;
    let events = 0;
    let bytes = 0;
    for (const item of this.queued) {
      if (n > 0 && (events >= this.maxBatch || bytes >= this.maxBatchBytes)) break;
      n++;
      if (item.kind === 'events') {
        events += item.events.length;
        bytes += item.bytes;
      }
    }
    this.queuedEvents -= events;
    this.queuedBytes -= bytes;
    this.flightBytes = bytes;
    return this.queued.splice(0, n);
  }

  private afterFlight(): void {
    if (!this.backlogged()) for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.queued.length === 0 || this.givenUp) return;
    if (this.due || this.closed || this.queuedEvents >= this.maxBatch || this.queuedBytes >= this.maxBatchBytes) this.kick();
    else this.arm();
  }

  /** Writes `batch` until it commits (retrying while the database is away), then tells who waits. */
  private async run(batch: Item[]): Promise<void> {
    for (let retrying = false; ; retrying = true) {
      const start = performance.now();
      try {
        const written = await writeBatch(this.o.db, batch, {
          fence: this.o.fence,
          replicaId: this.o.replicaId,
          eventsChannel: CHANNELS.events,
          statusChannel: CHANNELS.status,
          retrying,
        });
        if (this.retryMs > 0) this.o.logger?.info('store: batch written after retries');
        this.retryMs = 0;
        this.committed(written, performance.now() - start);
        return;
      } catch (err) {
        if (!isRetryable(err)) return this.isolate(batch, err);
        if (this.givenUp) return this.fail(batch, err);
        const first = this.retryMs === 0;
        this.retryMs = nextRetryMs(this.retryMs);
        this.o.logger?.[first ? 'error' : 'debug']('store: batch write failed, will retry', {
          err: String(err),
          retryMs: this.retryMs,
          pendingBytes: this.pendingBytes,
        });
        await sleep(this.retryMs, this.givingUp);
      }
    }
  }

  /** A batch failed on its data: written again one command at a time, so that one bad command does not hold back the rest. */
  private async isolate(batch: Item[], err: unknown): Promise<void> {
    const byCommand = new Map<string, Item[]>();
    for (const item of batch) {
      const items = byCommand.get(item.commandId);
      if (items) items.push(item);
      else byCommand.set(item.commandId, [item]);
    }
    if (byCommand.size === 1) return this.fail(batch, err);
    for (const items of byCommand.values()) await this.run(items);
  }

  /** Gives up on `items`: logged, and their row writes rejected. */
  private fail(items: Item[], err: unknown): void {
    const events = items.reduce((n, item) => n + (item.kind === 'events' ? item.events.length : 0), 0);
    this.o.logger?.error('store: writes dropped', { err: String(err), commands: [...new Set(items.map((i) => i.commandId))], events });
    const error = err instanceof Error ? err : new Error(String(err));
    for (const item of items) if (item.kind !== 'events') item.waiter.reject(error);
  }

  private committed(written: Written, ms: number): void {
    for (const id of written.fenced) this.discard(id);
    // Told after the queue dropped the fenced commands' writes, before anyone hears of the commit.
    for (const id of written.fenced) this.o.fence.fenced(id);
    for (const w of written.rejected) w.reject(new FencedError(w.commandId));
    for (const w of written.resolved) w.resolve();
    const stats = { events: written.events, commands: written.commands, ms };
    try {
      this.o.onCommit(written.committed, stats);
    } catch (err) {
      this.o.logger?.error('store: a commit listener threw', { err: String(err) });
    }
  }

  /**
   * Writes what is queued once `flushMs` has passed since the last batch was sent; after a quiet spell (no batch sent
   * in the last `flushMs`, none in flight) at the end of this turn instead: there is nothing to batch it with, and a
   * trickle of output is delivered at once (group commit's leading edge; a steady stream is still written every `flushMs`).
   */
  private arm(): void {
    if (this.timer || this.immediate || this.closed) return;
    const sinceLast = performance.now() - this.lastKickAt;
    if (!this.flight && sinceLast >= this.o.flushMs) {
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.kick();
      });
      return;
    }
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.kick();
      },
      Math.max(1, this.o.flushMs - sinceLast),
    );
  }

  private soon(): void {
    if (this.soonQueued) return;
    this.soonQueued = true;
    queueMicrotask(() => {
      this.soonQueued = false;
      this.kick();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the store is closed');
  }
}
