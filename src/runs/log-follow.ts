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

/** A wait armed with {@link AppendWaiters.arm}: settles at the next wake of its command. */
export interface ArmedWait {
  /** The events the wake handed over (undefined for a wake without events, a cancel or an abort). */
  readonly woken: Promise<readonly CommandEvent[] | undefined>;
  /** Stops waiting (resolves `woken` with undefined); safe to call more than once. */
  cancel(): void;
}

/**
 * Who waits for the next events of each command to become readable (durable); shared by every
 * {@link EventLog} implementation. A wake may hand the waiter the events that just became
 * durable, so that it needs no read to see them (and sees them even when the store has closed).
 */
export class AppendWaiters {
  private readonly waiters = new Map<string, Set<(events?: readonly CommandEvent[]) => void>>();

  /**
   * Registers a wait for the next {@link AppendWaiters.wake} of `commandId` now, before the caller
   * reads: with an asynchronous read, a commit that lands during the read still wakes it.
   */
  arm(commandId: string, signal: AbortSignal): ArmedWait {
    let set = this.waiters.get(commandId);
    if (!set) {
      set = new Set();
      this.waiters.set(commandId, set);
    }
    const waiting = set;
    let wake!: (events?: readonly CommandEvent[]) => void;
    const woken = new Promise<readonly CommandEvent[] | undefined>((resolve) => {
      wake = (events) => {
        if (!waiting.delete(wake)) return;
        if (waiting.size === 0 && this.waiters.get(commandId) === waiting) this.waiters.delete(commandId);
        signal.removeEventListener('abort', onAbort);
        resolve(events);
      };
    });
    const onAbort = (): void => wake();
    waiting.add(wake);
    if (signal.aborted) wake();
    else signal.addEventListener('abort', onAbort, { once: true });
    return { woken, cancel: () => wake() };
  }

  /** Whether anyone waits for `commandId` now. */
  has(commandId: string): boolean {
    return this.waiters.has(commandId);
  }

  /** Commands someone waits for now. */
  commands(): string[] {
    return [...this.waiters.keys()];
  }

  /** Wakes everyone waiting for `commandId`; `events`: the command's events that just became durable, in order. */
  wake(commandId: string, events?: readonly CommandEvent[]): void {
    for (const wake of [...(this.waiters.get(commandId) ?? [])]) wake(events);
  }

  /** Wakes everyone (the log is closing). */
  wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
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
 * of `waiters` makes readable, each event once and in order, ending after the completion event,
 * when `signal` aborts or when `closed()` says so (after yielding the events the last wake handed over).
 */
export async function* followLog(o: {
  commandId: string;
  afterSeq: number;
  signal: AbortSignal;
  /** Readable (durable) events only. */
  read: (commandId: string, afterSeq: number, limit: number) => Promise<CommandEvent[]>;
  waiters: AppendWaiters;
  closed?: () => boolean;
}): AsyncGenerator<CommandEvent> {
  const closed = o.closed ?? (() => false);
  let seq = o.afterSeq;
  while (!o.signal.aborted && !closed()) {
    // Armed before the read: a commit that lands while the read is on its way still wakes this follower.
    const wait = o.waiters.arm(o.commandId, o.signal);
    let caughtUp = false;
    try {
      for (let batch = await o.read(o.commandId, seq, 1000); batch.length > 0; batch = await o.read(o.commandId, seq, 1000)) {
        for (const event of batch) {
          seq = event.seq;
          yield event;
          if (event.type === 'completed') return;
        }
        if (o.signal.aborted) return;
      }
      caughtUp = true;
    } finally {
      if (!caughtUp) wait.cancel();
    }
    if (closed()) {
      wait.cancel();
      return;
    }
    const woken = await wait.woken;
    if (o.signal.aborted || !woken) continue;
    // The wake's events follow on from what was read only if nothing came between: else the next read has them.
    for (let i = firstAfter(woken, seq); i < woken.length && woken[i]!.seq === seq + 1; i++) {
      const event = woken[i]!;
      seq = event.seq;
      yield event;
      if (event.type === 'completed') return;
      if (o.signal.aborted) return;
    }
  }
}
