import type { CommandEvent, NewCommandEvent } from './types.js';

/** Told of events once they are durable; see {@link EventLog.onDurable}. */
export type DurableListener = (commandId: string, events: readonly CommandEvent[]) => void;

/**
 * The one place that holds command output. Every event gets a `seq` (1, 2, 3, … per command);
 * subscriptions, the REST shim, `Command.output` and a persistent store all sit on these calls.
 *
 * **Readers see only durable events.** `append` numbers events at once, but an event becomes
 * visible to {@link read}, {@link follow} (and everything built on them) and {@link onDurable}
 * only when it is durable: written and committed, so that a crash cannot take it back. Each
 * command thus has two marks, like a log's high-water mark:
 * - {@link lastSeq}: the last seq numbered, pending events included (what the next append counts on);
 * - {@link durableSeq}: the last seq readers can see; `read` never returns a seq above it.
 *
 * A reader that saw seq `n` can therefore resume with `afterSeq: n` after any restart: a restarted
 * store numbers on from its durable mark, and no reader ever held a seq that was lost. What this
 * costs is the time an event waits before its batch is written (a persistent log's `flushMs`; a
 * memory log's events are durable for its process as soon as they are appended).
 *
 * Every call that touches storage is asynchronous: SQLite answers at once, PostgreSQL over the
 * network. Where other processes append too (replicas), `onDurable` and `follow` also see their
 * events, read back by `seq`.
 */
export interface EventLog {
  /**
   * Numbers and queues `events` after the command's last one ({@link lastSeq}); resolves with them
   * and their `seq` once they are queued (not yet durable: they become readable when they are).
   * Successive appends to one command get increasing seqs in the order of the calls, whether or
   * not the caller waits for each promise. Rejects when the log is closed.
   */
  append(commandId: string, events: NewCommandEvent[]): Promise<CommandEvent[]>;
  /** Durable events with `seq > afterSeq` (never above {@link durableSeq}), at most `limit` of them, in order. */
  read(commandId: string, afterSeq: number, limit: number): Promise<CommandEvent[]>;
  /**
   * Every durable event after `afterSeq`, then each new one as it becomes durable (a follower is
   * woken when a batch commits, not at `append`), each exactly once and in order; ends after the
   * completion event or when `signal` aborts.
   */
  follow(commandId: string, afterSeq: number, signal: AbortSignal): AsyncIterable<CommandEvent>;
  /**
   * The last `seq` given to the command by {@link append} (0 when it has none), including events
   * not durable yet. Readers that need what they can see use {@link durableSeq}.
   */
  lastSeq(commandId: string): Promise<number>;
  /** The last `seq` of the command that is durable, hence readable (0 when it has none); at most {@link lastSeq}. */
  durableSeq(commandId: string): Promise<number>;
  /**
   * Calls `listener` with each command's events as they become durable (per command, in seq
   * order, each event once), synchronously at the commit; returns a function that unsubscribes.
   * A listener that throws is logged or ignored, never fails the write.
   */
  onDurable(listener: DurableListener): () => void;
  /**
   * True while more output waits to be written than the log holds in memory (a network database
   * that is slow or away): the writer should stop reading output until {@link drained}. A log that
   * writes locally has neither.
   */
  backlogged?(): boolean;
  /** Resolves once the output waiting to be written is under the bound again. */
  drained?(): Promise<void>;
  /**
   * Resolves once everything appended before the call is durable. Only a log whose writes take a
   * round trip has it (readers elsewhere must not see a command end before its output is readable).
   */
  flushed?(): Promise<void>;
}
