import type Database from 'better-sqlite3';
import type { EventLog } from '../runs/event-log.js';
import { AppendWaiters, firstAfter, followLog } from '../runs/log-follow.js';
import type { CommandEvent } from '../runs/types.js';
import { eventOf, type EventRow } from './rows.js';
import type { WriteQueue } from './write-queue.js';

/** An {@link EventLog} in SQLite that can also be told to let its followers go. */
export interface SqliteEventLog extends EventLog {
  /** Ends every `follow` that waits for an append (the store is closing). */
  releaseFollowers(): void;
}

/**
 * An {@link EventLog} over the `events` table. `append` numbers events in memory and hands them to
 * the {@link WriteQueue}, which writes them in batches; `read` joins the written rows with the
 * queue's unwritten tail, so readers and followers never see a gap. Semantics mirror
 * `createMemoryEventLog` (src/runs/memory-event-log.ts).
 */
export function createSqliteEventLog(db: Database.Database, queue: WriteQueue): SqliteEventLog {
  const selectAfter = db.prepare<[string, number, number], EventRow>(
    `SELECT seq, type, at, stream, text, message_type, subtype, tool_name, message, status, exit_code, duration_ms, error
     FROM events WHERE command_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  );
  const selectLastSeq = db.prepare<[string], { seq: number | null }>('SELECT max(seq) AS seq FROM events WHERE command_id = ?');
  /** The last seq of commands appended to in this process, while they may still change. */
  const lastSeqs = new Map<string, number>();
  const waiters = new AppendWaiters();

  const lastSeq = (commandId: string): number => {
    const known = lastSeqs.get(commandId);
    if (known !== undefined) return known;
    const tail = queue.tail(commandId);
    if (tail && tail.length > 0) return tail.at(-1)!.seq;
    if (queue.isClosed) return 0;
    return selectLastSeq.get(commandId)?.seq ?? 0;
  };

  const read = (commandId: string, afterSeq: number, limit: number): CommandEvent[] => {
    if (limit <= 0 || queue.isClosed) return [];
    const tail = queue.tail(commandId) ?? [];
    // Everything asked for is still in memory: no query.
    if (tail.length > 0 && tail[0]!.seq <= afterSeq + 1) {
      const start = firstAfter(tail, afterSeq);
      return tail.slice(start, start + limit);
    }
    const events = selectAfter.all(commandId, afterSeq, limit).map(eventOf);
    if (events.length < limit && tail.length > 0) {
      // Every unwritten event comes after every written one.
      const start = firstAfter(tail, afterSeq);
      events.push(...tail.slice(start, start + limit - events.length));
    }
    return events;
  };

  return {
    append(commandId, newEvents) {
      let seq = lastSeq(commandId);
      const stored = newEvents.map((e) => ({ ...e, seq: ++seq }) as CommandEvent);
      if (stored.length === 0) return stored;
      queue.addEvents(commandId, stored);
      // A completed command's events are written at once; its seq can be asked of the file again.
      if (stored.at(-1)!.type === 'completed' && !queue.tail(commandId)) lastSeqs.delete(commandId);
      else lastSeqs.set(commandId, seq);
      waiters.wake(commandId);
      return stored;
    },
    read,
    lastSeq,
    follow: (commandId, afterSeq, signal) => followLog({ commandId, afterSeq, signal, read, waiters, closed: () => queue.isClosed }),
    releaseFollowers: () => waiters.wakeAll(),
  };
}
