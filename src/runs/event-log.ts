import type { CommandEvent, NewCommandEvent } from './types.js';

/**
 * The one place that holds command output. Every event gets a `seq` (1, 2, 3, … per command);
 * subscriptions, the REST shim, `Command.output` and a persistent store all sit on these calls.
 */
export interface EventLog {
  /** Numbers and stores `events` after the command's last one; returns them with their `seq`. */
  append(commandId: string, events: NewCommandEvent[]): CommandEvent[];
  /** Stored events with `seq > afterSeq`, at most `limit` of them, in order. */
  read(commandId: string, afterSeq: number, limit: number): CommandEvent[];
  /**
   * Everything stored after `afterSeq`, then each new event as it is appended; ends after the
   * completion event or when `signal` aborts.
   */
  follow(commandId: string, afterSeq: number, signal: AbortSignal): AsyncIterable<CommandEvent>;
  /** The last `seq` given to the command (0 when it has none). */
  lastSeq(commandId: string): number;
}
