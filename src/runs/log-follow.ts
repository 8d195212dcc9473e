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

/**
 * Who waits for the next events of each command to become readable (durable); shared by every
 * {@link EventLog} implementation. A wake may hand the waiter the events that just became
 * durable, so that it needs no read to see them (and sees them even when the store has closed).
 */
export class AppendWaiters {
  private readonly waiters = new Map<string, Set<(events?: readonly CommandEvent[]) => void>>();

  /**
   * Resolves at the next {@link AppendWaiters.wake} of `commandId` with the events it was given,
   * or with undefined at a wake without events or when `signal` aborts.
   */
  wait(commandId: string, signal: AbortSignal): Promise<readonly CommandEvent[] | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(commandId);
      if (!set) {
        set = new Set();
        this.waiters.set(commandId, set);
      }
      const wake = (events?: readonly CommandEvent[]): void => {
        set.delete(wake);
        if (set.size === 0 && this.waiters.get(commandId) === set) this.waiters.delete(commandId);
        signal.removeEventListener('abort', onAbort);
        resolve(events);
      };
      const onAbort = (): void => wake();
      set.add(wake);
      signal.addEventListener('abort', onAbort, { once: true });
    });
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
  read: (commandId: string, afterSeq: number, limit: number) => CommandEvent[];
  waiters: AppendWaiters;
  closed?: () => boolean;
}): AsyncGenerator<CommandEvent> {
  const closed = o.closed ?? (() => false);
  let seq = o.afterSeq;
  while (!o.signal.aborted && !closed()) {
    // Reading and registering the waiter happen in one synchronous step, so no commit slips between.
    for (let batch = o.read(o.commandId, seq, 1000); batch.length > 0; batch = o.read(o.commandId, seq, 1000)) {
      for (const event of batch) {
        seq = event.seq;
        yield event;
        if (event.type === 'completed') return;
      }
      if (o.signal.aborted) return;
    }
    if (closed()) return;
    const woken = await o.waiters.wait(o.commandId, o.signal);
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
