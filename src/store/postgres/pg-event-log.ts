import type { Logger } from '../../logger.js';
import type { EventLog } from '../../runs/event-log.js';
import { DurableListeners } from '../../runs/log-follow.js';
import type { CommandEvent, NewCommandEvent } from '../../runs/types.js';
import { nextRetryMs, sleep } from './backoff.js';
import { DurableFeed } from './durable-feed.js';
import { FencedError, isUnreachable } from './errors.js';
import type { StoreFence } from './fence.js';
import { PgFollowers } from './follow.js';
import type { Db } from './pool.js';
import type { PgWriteQueue } from './pg-write-queue.js';
import { EVENT_SELECT, eventOf, type PgEventRow } from './rows.js';

/** Says whether this process wants the events of a command it does not follow (the run manager publishes project-wide events from `onDurable`). */
export type Interest = (commandId: string, projectId: string) => boolean;

/**
 * An {@link EventLog} in PostgreSQL, shared by the replicas. `onDurable` and `follow` see the
 * events this process commits and those other replicas commit (woken by LISTEN/NOTIFY, read by seq).
 */
export interface PgEventLog extends EventLog {
  /**
   * Which commands' events this process reads when another replica commits them, besides those
   * it has followers for (which it always reads): `onDurable` listeners hear of those only.
   * @default () => false
   */
  setInterest(interest: Interest | undefined): void;
  /** True while more output than `maxPendingBytes` waits to be written (the database is slow or away): pause reading output. */
  backlogged(): boolean;
  /** Resolves once the output waiting to be written is within `maxPendingBytes` again. */
  drained(): Promise<void>;
  /**
   * Resolves once every event appended and every command change made before the call is written
   * (before a replica hands its leases over, say); waits as long as the database is away.
   */
  flushed(): Promise<void>;
}

/** What the store connects the log to (not for the log's callers). */
export interface PgEventLogWiring {
  /** The write queue committed `events` (per command, in seq order). */
  committed(events: ReadonlyMap<string, CommandEvent[]>): void;
  /** A notification on `rdev_events`. */
  notified(payload: unknown): void;
  /** The LISTEN connection is back: notifications may have been missed. */
  reconnected(): void;
  /** `commandId` was fenced: its seq is another replica's to give now. */
  forget(commandId: string): void;
  /** The appends of `commandId` still waiting for its last seq to be loaded (undefined when none). */
  appending(commandId: string): Promise<unknown> | undefined;
  /** Ends every follower (the store is closing). */
  releaseFollowers(): void;
}

interface Notified {
  replica: string;
  commandId: string;
  projectId: string | null;
  first?: number;
  seq: number;
}

function isNotified(p: unknown): p is Notified {
  const n = p as Partial<Notified> | null;
  return typeof n?.replica === 'string' && typeof n.commandId === 'string' && typeof n.seq === 'number';
}

/**
 * The log over the `events` table and the {@link PgWriteQueue}. `append` numbers events from the
 * last seq this process knows of the command; the first append of a command in this process
 * loads it (`max(seq)`), and appends made meanwhile wait behind that load in call order.
 */
export function createPgEventLog(o: {
  db: Db;
  queue: PgWriteQueue;
  fence: StoreFence;
  replicaId: string;
  logger?: Logger | undefined;
}): PgEventLog & PgEventLogWiring {
  const { db, queue, fence } = o;
  /** The last seq numbered, for commands this process appends to. */
  const lastSeqs = new Map<string, number>();
  /** Appends waiting for a command's last seq, chained in call order. */
  const chains = new Map<string, Promise<unknown>>();
  const followers = new PgFollowers();
  const listeners = new DurableListeners((err) => o.logger?.error('event log: an onDurable listener threw', { err: String(err) }));
  let interest: Interest = () => false;

  const read = async (commandId: string, afterSeq: number, limit: number): Promise<CommandEvent[]> => {
    if (limit <= 0 || queue.isClosed) return [];
    const { rows } = await db.query<PgEventRow>(`SELECT ${EVENT_SELECT} FROM events WHERE command_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [
      commandId,
      afterSeq,
      limit,
    ]);
    return rows.map(eventOf);
  };
  const readRange = async (commandId: string, afterSeq: number, upto: number | undefined, limit: number): Promise<CommandEvent[]> => {
    if (upto === undefined) return read(commandId, afterSeq, limit);
    if (queue.isClosed) return [];
    const { rows } = await db.query<PgEventRow>(`SELECT ${EVENT_SELECT} FROM events WHERE command_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`, [
      commandId,
      afterSeq,
      upto,
      limit,
    ]);
    return rows.map(eventOf);
  };
  const durableSeq = async (commandId: string): Promise<number> => {
    if (queue.isClosed) return 0;
    const { rows } = await db.query<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM events WHERE command_id = $1', [commandId]);
    return rows[0]!.seq;
  };
  const feed = new DurableFeed({
    followers,
    listeners,
    readRange,
    wanted: (commandId, projectId) => followers.has(commandId) || (projectId !== undefined && interest(commandId, projectId)),
    logger: o.logger,
  });

  /** Numbers `events` after the command's last seq and queues them; throws when fenced or closed. */
  const number = (commandId: string, events: NewCommandEvent[]): CommandEvent[] => {
    if (fence.isFenced(commandId)) throw new FencedError(commandId);
    let seq = lastSeqs.get(commandId) ?? 0;
    const stored = events.map((e) => ({ ...e, seq: ++seq }) as CommandEvent);
    queue.addEvents(commandId, stored);
    lastSeqs.set(commandId, seq);
    return stored;
  };

  /** Loads the command's last durable seq, retrying while the database is away (the appends wait; nothing is dropped). */
  const loadLastSeq = async (commandId: string): Promise<void> => {
    for (let retryMs = nextRetryMs(0); !lastSeqs.has(commandId); retryMs = nextRetryMs(retryMs)) {
      if (queue.isClosed) throw new Error('the store is closed');
      try {
        const seq = await durableSeq(commandId);
        if (!lastSeqs.has(commandId)) lastSeqs.set(commandId, seq);
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        await sleep(retryMs);
      }
    }
  };

  return {
    append(commandId, events) {
      const waiting = chains.get(commandId);
      if (!waiting && lastSeqs.has(commandId)) {
        try {
          return Promise.resolve(number(commandId, events));
        } catch (err) {
          return Promise.reject(err);
        }
      }
      const appended = (waiting ?? Promise.resolve())
        .catch(() => {})
        .then(async () => {
          await loadLastSeq(commandId);
          return number(commandId, events);
        });
      chains.set(commandId, appended);
      const done = (): void => void (chains.get(commandId) === appended && chains.delete(commandId));
      appended.then(done, done);
      return appended;
    },
    read,
    async lastSeq(commandId) {
      await chains.get(commandId)?.catch(() => {});
      return lastSeqs.get(commandId) ?? durableSeq(commandId);
    },
    durableSeq,
    onDurable: (listener) => listeners.add(listener),
    follow: (commandId, afterSeq, signal) => followers.follow(commandId, afterSeq, signal, read),
    setInterest(fn) {
      interest = fn ?? (() => false);
    },
    backlogged: () => queue.backlogged(),
    drained: () => queue.drained(),
    flushed: () => queue.flushed(),
    committed(batch) {
      for (const [commandId, events] of batch) {
        const last = events.at(-1);
        // A completed command's seq can be asked of the table again; nothing more is appended to it.
        if (last?.type === 'completed' && lastSeqs.get(commandId) === last.seq && !chains.has(commandId)) lastSeqs.delete(commandId);
        feed.committed(commandId, events);
      }
    },
    notified(payload) {
      if (!isNotified(payload) || payload.replica === o.replicaId) return;
      const projectId = payload.projectId ?? undefined;
      if (!followers.has(payload.commandId) && !(projectId !== undefined && interest(payload.commandId, projectId))) return feed.unwanted(payload.commandId);
      feed.remote(payload.commandId, projectId, payload.first ?? payload.seq, payload.seq);
    },
    reconnected: () => feed.recheck(followers.commandIds()),
    forget: (commandId) => void lastSeqs.delete(commandId),
    appending: (commandId) => chains.get(commandId),
    releaseFollowers: () => followers.endAll(),
  };
}
