import type { EventLog } from './event-log.js';
import type { CommandEvent } from './types.js';

/** Binary search: index of the first event with `seq > afterSeq`. */
function firstAfter(events: CommandEvent[], afterSeq: number): number {
  let lo = 0;
  let hi = events.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (events[mid]!.seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** An {@link EventLog} that keeps every command's events in memory, for as long as the process lives. */
export function createMemoryEventLog(): EventLog {
  const logs = new Map<string, CommandEvent[]>();
  /** Who is waiting for the next append to each command. */
  const waiters = new Map<string, Set<() => void>>();

  const nextAppend = (commandId: string, signal: AbortSignal): Promise<void> =>
    new Promise((resolve) => {
      let set = waiters.get(commandId);
      if (!set) {
        set = new Set();
        waiters.set(commandId, set);
      }
      const wake = (): void => {
        set.delete(wake);
        if (set.size === 0 && waiters.get(commandId) === set) waiters.delete(commandId);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      set.add(wake);
      signal.addEventListener('abort', wake, { once: true });
    });

  const eventsOf = (commandId: string): CommandEvent[] => {
    let events = logs.get(commandId);
    if (!events) {
      events = [];
      logs.set(commandId, events);
    }
    return events;
  };

  const read = (commandId: string, afterSeq: number, limit: number): CommandEvent[] => {
    const events = logs.get(commandId) ?? [];
    const start = firstAfter(events, afterSeq);
    return events.slice(start, start + limit);
  };

  return {
    append(commandId, newEvents) {
      const events = eventsOf(commandId);
      let seq = events.at(-1)?.seq ?? 0;
      const stored = newEvents.map((e) => ({ ...e, seq: ++seq }) as CommandEvent);
      events.push(...stored);
      if (stored.length > 0) for (const wake of [...(waiters.get(commandId) ?? [])]) wake();
      return stored;
    },
    read,
    lastSeq(commandId) {
      return logs.get(commandId)?.at(-1)?.seq ?? 0;
    },
    async *follow(commandId, afterSeq, signal) {
      let seq = afterSeq;
      while (!signal.aborted) {
        // Reading and registering the waiter happen in one synchronous step, so no append slips between.
        for (let batch = read(commandId, seq, 1000); batch.length > 0; batch = read(commandId, seq, 1000)) {
          for (const event of batch) {
            seq = event.seq;
            yield event;
            if (event.type === 'completed') return;
          }
          if (signal.aborted) return;
        }
        await nextAppend(commandId, signal);
      }
    },
  };
}
