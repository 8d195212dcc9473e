import type { Logger } from '../../logger.js';

/**
 * Which commands this process writes as their owner, and at which epoch. The coordination code
 * (leases) calls {@link Fence.hold} when it takes a command and {@link Fence.release} when it lets
 * it go; every batch the write queue commits checks, under a row lock in the same transaction,
 * that each held command's `commands.epoch` is still the held one. A command whose epoch moved on
 * (another replica took it over) is fenced: nothing more of it is written from this process.
 */
export interface Fence {
  /** Writes of `commandId` are checked against `epoch` from now on (and a command fenced earlier is writable again). */
  hold(commandId: string, epoch: number): void;
  /** Stops checking `commandId` (its writes go unchecked again, unless it was fenced). */
  release(commandId: string): void;
  /** The epoch held for `commandId`, or undefined when it is not held. */
  epoch(commandId: string): number | undefined;
  /**
   * Calls `listener` when a write of a held command found another epoch in its row: its pending
   * events and changes were dropped, its updates rejected with `FencedError`, and it is no longer
   * held. Returns a function that unsubscribes.
   */
  onFenced(listener: (commandId: string) => void): () => void;
}

/** The fence as the store uses it: it also records and tells which commands were fenced. */
export interface StoreFence extends Fence {
  /** True when `commandId` was fenced and not held again since: its appends and updates are refused. */
  isFenced(commandId: string): boolean;
  /** Marks `commandId` fenced (the write queue found another epoch), releases it and tells the listeners. */
  fenced(commandId: string): void;
}

export function createFence(logger?: Logger): StoreFence {
  const held = new Map<string, number>();
  const lost = new Set<string>();
  const listeners = new Set<(commandId: string) => void>();
  return {
    hold(commandId, epoch) {
      held.set(commandId, epoch);
      lost.delete(commandId);
    },
    release: (commandId) => void held.delete(commandId),
    epoch: (commandId) => held.get(commandId),
    onFenced(listener) {
      const entry = (commandId: string): void => listener(commandId);
      listeners.add(entry);
      return () => void listeners.delete(entry);
    },
    isFenced: (commandId) => lost.has(commandId),
    fenced(commandId) {
      held.delete(commandId);
      lost.add(commandId);
      logger?.warn('store: fenced, another replica holds the command now', { commandId });
      for (const listener of [...listeners]) {
        try {
          listener(commandId);
        } catch (err) {
          logger?.error('store: an onFenced listener threw', { err: String(err) });
        }
      }
    },
  };
}
