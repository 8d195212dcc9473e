import type Database from 'better-sqlite3';
import type { Logger } from '../logger.js';
import type { EventLog } from '../runs/event-log.js';
import { DurableListeners, FollowerInboxes, firstAfter, followLog } from '../runs/log-follow.js';
import type { CommandEvent } from '../runs/types.js';
import { eventOf, type EventRow } from './rows.js';
import type { WriteQueue } from './write-queue.js';

/** An {@link EventLog} in SQLite that the store tells of its commits, and can tell to let its followers go. */
export interface SqliteEventLog extends EventLog {
  /** Ends every `follow` that waits for events (the store is closing). */
  releaseFollowers(): void;
  /**
   * The store calls this after each committed batch (the write queue's `onFlush`) with, per
   * command, the last seq the batch made durable: it wakes that command's followers and tells
   * the `onDurable` listeners. Never throws.
   */
  committed(lastSeqs: ReadonlyMap<string, number>): void;
}

/** What {@link createSqliteEventLog} reports to. */
export interface SqliteEventLogOptions {
  /** Where an `onDurable` listener that throws is reported. */
  logger?: Logger | undefined;
}

/**
 * An {@link EventLog} over the `events` table. `append` numbers events in memory and hands them to
 * the {@link WriteQueue}, which writes them in batches. The table holds exactly the durable
 * events, so `read` (and `follow`, which reads) is one query on it and never sees an event that
 * a crash could still take back; a follower waits for the next commit of its command, not for the
 * next append. Semantics otherwise mirror `createMemoryEventLog` (src/runs/memory-event-log.ts).
 */
export function createSqliteEventLog(db: Database.Database, queue: WriteQueue, options: SqliteEventLogOptions = {}): SqliteEventLog {
  const selectAfter = db.prepare<[string, number, number], EventRow>(
    `SELECT seq, type, at, stream, text, message_type, subtype, tool_name, message, status, exit_code, duration_ms, error
     FROM events WHERE command_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  );
  const selectLastSeq = db.prepare<[string], { seq: number | null }>('SELECT max(seq) AS seq FROM events WHERE command_id = ?');
  /** The last seq numbered, for commands appended to in this process while they may still change. */
  const lastSeqs = new Map<string, number>();
  /** Events appended but not committed yet, per command in seq order (the same objects the queue holds). */
  const pending = new Map<string, CommandEvent[]>();
  const followers = new FollowerInboxes();
  const durable = new DurableListeners((err) => options.logger?.error('event log: an onDurable listener threw', { err: String(err) }));

  const durableSeqNow = (commandId: string): number => (queue.isClosed ? 0 : (selectLastSeq.get(commandId)?.seq ?? 0));

  const read = async (commandId: string, afterSeq: number, limit: number): Promise<CommandEvent[]> => {
    if (limit <= 0 || queue.isClosed) return [];
    return selectAfter.all(commandId, afterSeq, limit).map(eventOf);
  };

  return {
    async append(commandId, newEvents) {
      let seq = lastSeqs.get(commandId) ?? durableSeqNow(commandId);
      const stored = newEvents.map((e) => ({ ...e, seq: ++seq }) as CommandEvent);
      if (stored.length === 0) return stored;
      // Recorded before the queue takes them: it may commit them before `addEvents` returns.
      let waiting = pending.get(commandId);
      if (!waiting) pending.set(commandId, (waiting = []));
      const before = waiting.length;
      waiting.push(...stored);
      const lastBefore = lastSeqs.get(commandId);
      lastSeqs.set(commandId, seq);
      try {
        queue.addEvents(commandId, stored);
      } catch (err) {
        // The queue is closed: nothing was numbered after all.
        waiting.length = before;
        if (before === 0) pending.delete(commandId);
        if (lastBefore === undefined) lastSeqs.delete(commandId);
        else lastSeqs.set(commandId, lastBefore);
        throw err;
      }
      return stored;
    },
    read,
    lastSeq: async (commandId) => lastSeqs.get(commandId) ?? durableSeqNow(commandId),
    durableSeq: async (commandId) => durableSeqNow(commandId),
    onDurable: (listener) => durable.add(listener),
    follow: (commandId, afterSeq, signal) => followLog({ commandId, afterSeq, signal, read, followers, closed: () => queue.isClosed }),
    releaseFollowers: () => followers.wakeAll(),
    committed(batch) {
      for (const [commandId, seq] of batch) {
        const waiting = pending.get(commandId);
        if (!waiting) continue;
        const n = firstAfter(waiting, seq);
        const events = waiting.slice(0, n);
        if (n < waiting.length) pending.set(commandId, waiting.slice(n));
        else {
          pending.delete(commandId);
          // A completed command's log is whole on disk; its seq can be asked of the file again.
          if (events.at(-1)?.type === 'completed') lastSeqs.delete(commandId);
        }
        durable.emit(commandId, events);
        followers.wake(commandId, events);
      }
    },
  };
}
