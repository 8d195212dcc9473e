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

/** Who waits for the next append to each command; shared by every {@link EventLog} implementation. */
export class AppendWaiters {
  private readonly waiters = new Map<string, Set<() => void>>();

  /** Resolves at the next {@link AppendWaiters.wake} of `commandId`, or when `signal` aborts. */
  wait(commandId: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      let set = this.waiters.get(commandId);
      if (!set) {
        set = new Set();
        this.waiters.set(commandId, set);
      }
      const wake = (): void => {
        set.delete(wake);
        if (set.size === 0 && this.waiters.get(commandId) === set) this.waiters.delete(commandId);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      set.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });
  }

  /** Wakes everyone waiting for `commandId`. */
  wake(commandId: string): void {
    for (const wake of [...(this.waiters.get(commandId) ?? [])]) wake();
  }

  /** Wakes everyone (the log is closing). */
  wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
  }
}

/**
 * `EventLog.follow` for any log: everything stored after `afterSeq`, then each append as it
 * comes, ending after the completion event, when `signal` aborts or when `closed()` says so.
 */
export async function* followLog(o: {
  commandId: string;
  afterSeq: number;
  signal: AbortSignal;
  read: (commandId: string, afterSeq: number, limit: number) => CommandEvent[];
  waiters: AppendWaiters;
  closed?: () => boolean;
}): AsyncGenerator<CommandEvent> {
  const closed = o.closed ?? (() => false);
  let seq = o.afterSeq;
  while (!o.signal.aborted && !closed()) {
    // Reading and registering the waiter happen in one synchronous step, so no append slips between.
    for (let batch = o.read(o.commandId, seq, 1000); batch.length > 0; batch = o.read(o.commandId, seq, 1000)) {
      for (const event of batch) {
        seq = event.seq;
        yield event;
        if (event.type === 'completed') return;
      }
      if (o.signal.aborted) return;
    }
    if (closed()) return;
    await o.waiters.wait(o.commandId, o.signal);
  }
}
