import type { CommandEvent } from '../../runs/types.js';
import { nextRetryMs, sleep } from './backoff.js';
import { isUnreachable } from './errors.js';

/** Events a follower may hold unread before it drops them and reads the table instead (a slow consumer). */
const MAX_BUFFERED = 10_000;
/** Events one read of the table returns. */
const PAGE = 1000;

/** One follower's inbox: the durable events it was handed, or word that it must read for itself. */
class Inbox {
  events: CommandEvent[] = [];
  /** Something became durable that is not in `events`: read the table. */
  reread = false;
  ended = false;
  /** Resolves when the follower is ended (abort or close). */
  readonly whenEnded: Promise<void>;
  private wake: (() => void) | undefined;
  private resolveEnded!: () => void;

  constructor() {
    this.whenEnded = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  push(events: readonly CommandEvent[] | undefined): void {
    if (events === undefined || this.events.length + events.length > MAX_BUFFERED) {
      this.events = [];
      this.reread = true;
    } else for (const e of events) this.events.push(e);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.resolveEnded();
    this.notify();
  }

  /** Resolves at the next push or end (at once when something is waiting already). */
  next(): Promise<void> {
    if (this.events.length > 0 || this.reread || this.ended) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * The followers of each command in this process. The log hands each commit's events to all the
 * followers of the command at once, so that however many there are, none of them reads for it.
 */
export class Followers {
  private readonly inboxes = new Map<string, Set<Inbox>>();
  private closed = false;

  /** Commands that have followers here. */
  commandIds(): string[] {
    return [...this.inboxes.keys()];
  }

  has(commandId: string): boolean {
    return this.inboxes.has(commandId);
  }

  /** Hands `events` (just durable, in seq order) to every follower of `commandId`; undefined: they read for themselves. */
  wake(commandId: string, events?: readonly CommandEvent[]): void {
    for (const inbox of this.inboxes.get(commandId) ?? []) inbox.push(events);
  }

  /** Ends every follower (the log is closing) once it has what it was handed. */
  endAll(): void {
    this.closed = true;
    for (const set of this.inboxes.values()) for (const inbox of set) inbox.end();
  }

  /**
   * `EventLog.follow`: every durable event after `afterSeq`, then each one as it becomes durable,
   * each once and in order; ends after the completion event, when `signal` aborts, or when the
   * log closes. The follower's inbox is opened before its first read, so that a commit between
   * the read and the wait is not missed; handed events that do not follow on from what it has
   * (a gap) send it back to the table. Reads that fail because the database is away are retried.
   */
  async *follow(
    commandId: string,
    afterSeq: number,
    signal: AbortSignal,
    read: (commandId: string, afterSeq: number, limit: number) => Promise<CommandEvent[]>,
  ): AsyncGenerator<CommandEvent> {
    const inbox = this.open(commandId);
    const onAbort = (): void => inbox.end();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let seq = afterSeq;
      let behind = true;
      let retryMs = 0;
      while (!signal.aborted) {
        if (behind) {
          if (inbox.ended) return;
          let batch: CommandEvent[];
          try {
            batch = await read(commandId, seq, PAGE);
            retryMs = 0;
          } catch (err) {
            if (!isUnreachable(err)) throw err;
            retryMs = nextRetryMs(retryMs);
            await sleep(retryMs, inbox.whenEnded);
            continue;
          }
          for (const event of batch) {
            if (signal.aborted) return;
            seq = event.seq;
            yield event;
            if (event.type === 'completed') return;
          }
          behind = batch.length === PAGE;
          continue;
        }
        const handed = inbox.events;
        inbox.events = [];
        if (inbox.reread) {
          inbox.reread = false;
          behind = true;
        }
        for (const event of handed) {
          if (event.seq <= seq) continue;
          if (event.seq !== seq + 1) {
            behind = true;
            break;
          }
          if (signal.aborted) return;
          seq = event.seq;
          yield event;
          if (event.type === 'completed') return;
        }
        if (behind || inbox.events.length > 0) continue;
        if (inbox.ended) return;
        await inbox.next();
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.close(commandId, inbox);
    }
  }

  private open(commandId: string): Inbox {
    const inbox = new Inbox();
    if (this.closed) inbox.end();
    let set = this.inboxes.get(commandId);
    if (!set) this.inboxes.set(commandId, (set = new Set()));
    set.add(inbox);
    return inbox;
  }

  private close(commandId: string, inbox: Inbox): void {
    const set = this.inboxes.get(commandId);
    if (!set) return;
    set.delete(inbox);
    if (set.size === 0) this.inboxes.delete(commandId);
  }
}
