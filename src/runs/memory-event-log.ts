import type { EventLog } from './event-log.js';
import { DurableListeners, FollowerInboxes, firstAfter, followLog } from './log-follow.js';
import type { CommandEvent } from './types.js';

/**
 * An {@link EventLog} that keeps every command's events in memory, for as long as the process
 * lives. Nothing outlives the process anyway, so an event is "durable" as soon as it is appended:
 * `durableSeq` equals `lastSeq`, followers and `onDurable` listeners are told at `append`.
 */
export function createMemoryEventLog(options: { onListenerError?: (err: unknown) => void } = {}): EventLog {
  const logs = new Map<string, CommandEvent[]>();
  const followers = new FollowerInboxes();
  const durable = new DurableListeners(options.onListenerError);

  const readNow = (commandId: string, afterSeq: number, limit: number): CommandEvent[] => {
    const events = logs.get(commandId) ?? [];
    const start = firstAfter(events, afterSeq);
    return events.slice(start, start + limit);
  };
  const read = async (commandId: string, afterSeq: number, limit: number): Promise<CommandEvent[]> => readNow(commandId, afterSeq, limit);
  const lastSeq = async (commandId: string): Promise<number> => logs.get(commandId)?.at(-1)?.seq ?? 0;

  return {
    async append(commandId, newEvents) {
      let events = logs.get(commandId);
      if (!events) logs.set(commandId, (events = []));
      let seq = events.at(-1)?.seq ?? 0;
      const stored = newEvents.map((e) => ({ ...e, seq: ++seq }) as CommandEvent);
      for (const e of stored) events.push(e);
      if (stored.length > 0) {
        durable.emit(commandId, stored);
        followers.wake(commandId, stored);
      }
      return stored;
    },
    read,
    lastSeq,
    durableSeq: lastSeq,
    onDurable: (listener) => durable.add(listener),
    follow: (commandId, afterSeq, signal) => followLog({ commandId, afterSeq, signal, read, followers }),
  };
}
