import type { DurableListener } from './event-log.js';
import type { CommandEvent } from './types.js';

/** Binary search: index of the first event with `seq > afterSeq`. */
export function firstAfter(events: readonly CommandEvent[], afterSeq: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Events, and characters of text, a follower may hold unread before it drops them and reads the log instead (a slow consumer). */
const MAX_BUFFERED_EVENTS = 10_000;
const MAX_BUFFERED_CHARS = 1 << 20;
/** Events one read of the log returns. */
const PAGE = 1000;

const charsOf = (events: readonly CommandEvent[]): number => events.reduce((n, e) => n + (e.type === 'output' ? e.text.length : 0), 0);

/**
 * One follower's inbox: the durable events it was handed since it last looked (the arrays the
 * wakes handed over, shared by every follower of the command), or word that it must read for itself.
 */
class Inbox {
  private handed: Array<readonly CommandEvent[]> = [];
  private events = 0;
  private chars = 0;
  /** Something became durable that is not in the inbox (a wake without events, or too much unread): read the log. */
  reread = false;
  private wake: (() => void) | undefined;

  /** `chars`: the text length of `events` (counted once for all the inboxes). */
  push(events: readonly CommandEvent[] | undefined, chars: number): void {
    if (events === undefined || this.events + events.length > MAX_BUFFERED_EVENTS || this.chars + chars > MAX_BUFFERED_CHARS) {
      this.take();
      this.reread = true;
    } else if (events.length > 0) {
      this.handed.push(events);
      this.events += events.length;
      this.chars += chars;
    }
    this.notify();
  }

  /** Takes what was handed over, in order. */
  take(): Array<readonly CommandEvent[]> {
    const handed = this.handed;
    this.handed = [];
    this.events = this.chars = 0;
    return handed;
  }

  /** Resolves at the next push or {@link notify} (at once when something is waiting already). */
  next(): Promise<void> {
    if (this.events > 0 || this.reread) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }

  notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * The followers of each command, for every {@link EventLog} (memory, SQLite; PostgreSQL's
 * `PgFollowers` adds its retries). A follower's inbox is open for as long as it follows: each
 * wake hands the durable events to every follower of the command at once, so that however
 * many there are, none of them reads the log for them (a follower reads only to catch up: at
 * its start, after a wake without events, or when it fell {@link MAX_BUFFERED_EVENTS} events behind).
 */
export class FollowerInboxes {
  private readonly inboxes = new Map<string, Set<Inbox>>();

  /** Opens an inbox for `commandId` (before the follower's first read: a commit during the read lands in it). */
  open(commandId: string): { inbox: Inbox; close: () => void } {
    let set = this.inboxes.get(commandId);
    if (!set) this.inboxes.set(commandId, (set = new Set()));
    const inbox = new Inbox();
    const mine = set;
    mine.add(inbox);
    const close = (): void => {
      mine.delete(inbox);
      if (mine.size === 0 && this.inboxes.get(commandId) === mine) this.inboxes.delete(commandId);
    };
    return { inbox, close };
  }

  /** Whether `commandId` has followers here. */
  has(commandId: string): boolean {
    return this.inboxes.has(commandId);
  }

  /** Commands that have followers here. */
  commandIds(): string[] {
    return [...this.inboxes.keys()];
  }

  /** Hands `events` (the command's events that just became durable, in order) to every follower of `commandId`; undefined: they read. */
  wake(commandId: string, events?: readonly CommandEvent[]): void {
    const inboxes = this.inboxes.get(commandId);
    if (!inboxes) return;
    const chars = events ? charsOf(events) : 0;
    for (const inbox of inboxes) inbox.push(events, chars);
  }

  /** Wakes everyone (the log is closing: each ends once it has what it was handed). */
  wakeAll(): void {
    for (const set of this.inboxes.values()) for (const inbox of set) inbox.notify();
  }
}

/** The listeners of `EventLog.onDurable`; one that throws is reported to `onError` and the rest still run. */
export class DurableListeners {
  private readonly listeners = new Set<DurableListener>();

  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  add(listener: DurableListener): () => void {
    // A wrapper per subscription: the same function subscribed twice is called twice, and unsubscribed once each.
    const entry: DurableListener = (commandId, events) => listener(commandId, events);
    this.listeners.add(entry);
    return () => void this.listeners.delete(entry);
  }

  emit(commandId: string, events: readonly CommandEvent[]): void {
    if (events.length === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(commandId, events);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/**
 * `EventLog.follow` for any log: everything `read` returns after `afterSeq`, then what each wake
 * of `followers` hands over, each event once and in order, ending after the completion event,
 * when `signal` aborts or when `closed()` says so (after yielding the events it was handed).
 * Handed events that do not follow on from what it has (a gap) send it back to `read`.
 */
export async function* followLog(o: {
  commandId: string;
  afterSeq: number;
  signal: AbortSignal;
  /** Readable (durable) events only. */
  read: (commandId: string, afterSeq: number, limit: number) => Promise<CommandEvent[]>;
  followers: FollowerInboxes;
  closed?: () => boolean;
}): AsyncGenerator<CommandEvent> {
  const closed = o.closed ?? (() => false);
  const { signal } = o;
  // Opened before the first read: a commit that lands while the read is on its way is in the inbox.
  const { inbox, close } = o.followers.open(o.commandId);
  const onAbort = (): void => inbox.notify();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    let seq = o.afterSeq;
    let behind = true;
    while (!signal.aborted) {
      if (behind || inbox.reread) {
        // What was handed over before this read is in it, or comes after it (and is then kept).
        inbox.reread = false;
        const batch = await o.read(o.commandId, seq, PAGE);
        for (const event of batch) {
          seq = event.seq;
          yield event;
          if (event.type === 'completed' || signal.aborted) return;
        }
        behind = batch.length === PAGE;
        continue;
      }
      const handed = inbox.take();
      for (const events of handed) {
        let i = firstAfter(events, seq);
        if (i < events.length && events[i]!.seq !== seq + 1) {
          behind = true; // a gap: the log has what came between
          break;
        }
        for (; i < events.length; i++) {
          const event = events[i]!;
          seq = event.seq;
          yield event;
          if (event.type === 'completed' || signal.aborted) return;
        }
      }
      if (handed.length > 0) continue;
      if (closed()) return;
      await inbox.next();
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    close();
  }
}
