import type { EventLog } from './event-log.js';
import { AppendWaiters, firstAfter, followLog } from './log-follow.js';
import type { CommandEvent } from './types.js';

/** An {@link EventLog} that keeps every command's events in memory, for as long as the process lives. */
export function createMemoryEventLog(): EventLog {
  const logs = new Map<string, CommandEvent[]>();
  const waiters = new AppendWaiters();

  const read = (commandId: string, afterSeq: number, limit: number): CommandEvent[] => {
    const events = logs.get(commandId) ?? [];
    const start = firstAfter(events, afterSeq);
    return events.slice(start, start + limit);
  };

  return {
    append(commandId, newEvents) {
      let events = logs.get(commandId);
      if (!events) logs.set(commandId, (events = []));
      let seq = events.at(-1)?.seq ?? 0;
      const stored = newEvents.map((e) => ({ ...e, seq: ++seq }) as CommandEvent);
      for (const e of stored) events.push(e);
      if (stored.length > 0) waiters.wake(commandId);
      return stored;
    },
    read,
    lastSeq: (commandId) => logs.get(commandId)?.at(-1)?.seq ?? 0,
    follow: (commandId, afterSeq, signal) => followLog({ commandId, afterSeq, signal, read, waiters }),
  };
}
