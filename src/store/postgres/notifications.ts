import pg from 'pg';
import type { Logger } from '../../logger.js';
import { nextRetryMs } from './backoff.js';
import type { Db } from './pool.js';

/**
 * The channels the store listens to. `rdev_events` and `rdev_status` are sent by the write queue
 * at each commit (`{ replica, commandId, projectId, first, seq }` and `{ replica, commandId,
 * projectId, status }`); `rdev_queue` and `rdev_stop` are the coordination code's.
 */
export const CHANNELS = { events: 'rdev_events', status: 'rdev_status', queue: 'rdev_queue', stop: 'rdev_stop' } as const;

/**
 * LISTEN/NOTIFY between the replicas. A notification only wakes: what it tells of is read from
 * the tables. Notifications sent while the connection was down are lost, so whoever listens also
 * re-reads what it cares about in {@link Notifications.onReconnect}.
 * @see https://www.postgresql.org/docs/current/sql-notify.html
 */
export interface Notifications {
  /** Calls `listener` with the parsed JSON payload of each notification on `channel` (listening to it if need be); returns a function that unsubscribes. */
  on(channel: string, listener: (payload: unknown) => void): () => void;
  /** Calls `listener` after each re-connect of the listening connection (not after the first connect). */
  onReconnect(listener: () => void): () => void;
  /** Sends `payload` as JSON on `channel` through the pool (inside a transaction, use `SELECT pg_notify(…)` instead). */
  notify(channel: string, payload: unknown): Promise<void>;
}

/** The notifications as the store runs them. */
export interface StoreNotifications extends Notifications {
  /** Connects and listens; rejects when the first connection fails. */
  start(): Promise<void>;
  /** Stops listening and reconnecting. */
  close(): Promise<void>;
}

/** How often the listening connection is checked (a peer that vanished without a word sends no error). */
const PING_MS = 15_000;

/**
 * One dedicated `pg.Client` (not from the pool: LISTEN belongs to a session) that reconnects with
 * backoff whenever its connection errors or ends, and reports what it finds to the health mark.
 */
export function createNotifications(o: { config: pg.ClientConfig; db: Db; logger?: Logger | undefined }): StoreNotifications {
  const listeners = new Map<string, Set<(payload: unknown) => void>>(Object.values(CHANNELS).map((c) => [c, new Set()]));
  const reconnectListeners = new Set<() => void>();
  let client: pg.Client | undefined;
  let closed = false;
  let retryMs = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;

  const dispatch = (channel: string, raw: string | undefined): void => {
    let payload: unknown;
    try {
      payload = JSON.parse(raw ?? 'null');
    } catch {
      o.logger?.warn('postgres: a notification that is not JSON', { channel });
      return;
    }
    for (const listener of [...(listeners.get(channel) ?? [])]) {
      try {
        listener(payload);
      } catch (err) {
        o.logger?.error('postgres: a notification listener threw', { channel, err: String(err) });
      }
    }
  };

  const lost = (c: pg.Client, err?: unknown): void => {
    if (c !== client) return;
    client = undefined;
    clearInterval(pingTimer);
    o.db.observe(false);
    o.logger?.warn('postgres: the LISTEN connection was lost, reconnecting', { err: err === undefined ? undefined : String(err) });
    c.end().catch(() => {});
    reconnectLater();
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client(o.config);
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    c.on('notification', (msg) => dispatch(msg.channel, msg.payload));
    try {
      await c.connect();
      for (const channel of listeners.keys()) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      c.end().catch(() => {});
      throw err;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
    o.db.observe(true);
    pingTimer = setInterval(() => {
      c.query('SELECT 1').then(
        () => o.db.observe(true),
        (err: unknown) => lost(c, err),
      );
    }, PING_MS);
  };

  const reconnectLater = (): void => {
    if (closed || retryTimer) return;
    retryMs = nextRetryMs(retryMs);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect().then(
        () => {
          if (!client) return;
          retryMs = 0;
          o.logger?.info('postgres: listening again');
          for (const listener of [...reconnectListeners]) {
            try {
              listener();
            } catch (err) {
              o.logger?.error('postgres: a reconnect listener threw', { err: String(err) });
            }
          }
        },
        (err: unknown) => {
          o.db.observe(false);
          o.logger?.debug('postgres: LISTEN reconnect failed', { err: String(err), retryMs });
          reconnectLater();
        },
      );
    }, retryMs);
  };

  return {
    start: connect,
    on(channel, listener) {
      let set = listeners.get(channel);
      if (!set) {
        listeners.set(channel, (set = new Set()));
        const c = client;
        c?.query(`LISTEN ${pg.escapeIdentifier(channel)}`).catch((err: unknown) => lost(c, err));
      }
      // A wrapper per subscription: the same function subscribed twice is called twice, and unsubscribed once each.
      const entry = (payload: unknown): void => listener(payload);
      set.add(entry);
      return () => void set.delete(entry);
    },
    onReconnect(listener) {
      const entry = (): void => listener();
      reconnectListeners.add(entry);
      return () => void reconnectListeners.delete(entry);
    },
    async notify(channel, payload) {
      await o.db.query('SELECT pg_notify($1, $2)', [channel, JSON.stringify(payload)]);
    },
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      clearInterval(pingTimer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
