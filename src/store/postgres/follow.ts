import { setTimeout as delay } from 'node:timers/promises';
import { FollowerInboxes, followLog } from '../../runs/log-follow.js';
import type { CommandEvent } from '../../runs/types.js';
import { nextRetryMs } from './backoff.js';
import { isUnreachable } from './errors.js';

type Read = (commandId: string, afterSeq: number, limit: number) => Promise<CommandEvent[]>;

/**
 * The followers of each command in this replica: the same inboxes and follow loop as the other
 * logs ({@link FollowerInboxes}, {@link followLog}: each commit's events handed to all the
 * followers of the command at once, none reads for them), with reads retried while the database
 * is away, and an end for every follower when the log closes ({@link PgFollowers.endAll}).
 */
export class PgFollowers extends FollowerInboxes {
  private readonly released = new AbortController();

  /**
   * `EventLog.follow`: every durable event after `afterSeq`, then each one as it becomes durable,
   * each once and in order; ends after the completion event, when `signal` aborts, or when the
   * log closes (with what it was handed). Reads that fail because the database is away are retried.
   */
  follow(commandId: string, afterSeq: number, signal: AbortSignal, read: Read): AsyncGenerator<CommandEvent> {
    return followLog({
      commandId,
      afterSeq,
      signal,
      followers: this,
      closed: () => this.released.signal.aborted,
      read: (id, after, limit) => this.readRetrying(read, id, after, limit, signal),
    });
  }

  /** Ends every follower (the log is closing) once it has what it was handed. */
  endAll(): void {
    this.released.abort();
    this.wakeAll();
  }

  /** `read`, retried with backoff while the database is away; nothing once the follower or the log has ended. */
  private async readRetrying(read: Read, commandId: string, afterSeq: number, limit: number, signal: AbortSignal): Promise<CommandEvent[]> {
    const ended = AbortSignal.any([signal, this.released.signal]);
    for (let retryMs = 0; ;) {
      if (ended.aborted) return [];
      try {
        return await read(commandId, afterSeq, limit);
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        retryMs = nextRetryMs(retryMs);
        await delay(retryMs, undefined, { signal: ended }).catch(() => {});
      }
    }
  }
}
