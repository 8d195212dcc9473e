import type { Logger } from '../../logger.js';
import { firstAfter, type DurableListeners, type FollowerInboxes } from '../../runs/log-follow.js';
import type { CommandEvent } from '../../runs/types.js';

/** Commands whose last handed-out seq is remembered; past this, the least recently moved is forgotten. */
const MAX_MARKS = 10_000;
/** Events one read of another replica's commit returns. */
const PAGE = 1000;

/** How far a command's events were handed out in this process. */
interface Mark {
  seq: number;
  projectId: string | undefined;
  /** The completion was handed out: nothing more comes. */
  done: boolean;
}

export interface DurableFeedOptions {
  followers: FollowerInboxes;
  listeners: DurableListeners;
  /** Durable events of `commandId` with `afterSeq < seq <= upto` (no upper bound when undefined), at most `limit`, in order. */
  readRange(commandId: string, afterSeq: number, upto: number | undefined, limit: number): Promise<CommandEvent[]>;
  /** Whether this process wants the events of `commandId` (it has followers, or the run manager's interest). */
  wanted(commandId: string, projectId: string | undefined): boolean;
  logger?: Logger | undefined;
}

/**
 * The one place that tells this process's followers and `onDurable` listeners of durable events,
 * each event once and in order per command, whoever committed it: this process (the write queue
 * hands over exactly what it committed, no read needed) or another replica (one read per command
 * per process for each notification, however many followers wait; reads of one command never
 * overlap, and notifications that come during a read extend it).
 */
export class DurableFeed {
  private readonly marks = new Map<string, Mark>();
  /** Commands being read, and up to which seq. */
  private readonly reading = new Map<string, { upto: number }>();

  constructor(private readonly o: DurableFeedOptions) {}

  /** Events this process just committed for `commandId`, in seq order. */
  committed(commandId: string, events: readonly CommandEvent[]): void {
    this.deliver(commandId, events, undefined);
  }

  /** Another replica committed seqs `first`..`seq` of `commandId` (a notification): reads what was not handed out yet. */
  remote(commandId: string, projectId: string | undefined, first: number, seq: number): void {
    const mark = this.marks.get(commandId);
    // A command first heard of now starts at this commit: its earlier events were never this process's to hand out.
    if (!mark) this.setMark(commandId, { seq: first - 1, projectId, done: false });
    else if (mark.done || seq <= mark.seq) return;
    this.readUpTo(commandId, seq);
  }

  /** Another replica committed events of `commandId` that nobody here wants: a later reader starts from its own notification, not from here. */
  unwanted(commandId: string): void {
    if (!this.reading.has(commandId)) this.marks.delete(commandId);
  }

  /**
   * After notifications may have been missed (a re-connect): reads on from the mark of every
   * command still wanted, and wakes the followers of commands without one to read for themselves.
   */
  recheck(followed: readonly string[]): void {
    for (const [commandId, mark] of this.marks) {
      if (!mark.done && this.o.wanted(commandId, mark.projectId)) this.readUpTo(commandId, Infinity);
    }
    for (const commandId of followed) if (!this.marks.has(commandId)) this.o.followers.wake(commandId);
  }

  private readUpTo(commandId: string, upto: number): void {
    const current = this.reading.get(commandId);
    if (current) {
      current.upto = Math.max(current.upto, upto);
      return;
    }
    const state = { upto };
    this.reading.set(commandId, state);
    void this.read(commandId, state).finally(() => this.reading.delete(commandId));
  }

  private async read(commandId: string, state: { upto: number }): Promise<void> {
    try {
      for (;;) {
        const mark = this.marks.get(commandId);
        const after = mark?.seq ?? 0;
        if (mark?.done || after >= state.upto) return;
        const events = await this.o.readRange(commandId, after, Number.isFinite(state.upto) ? state.upto : undefined, PAGE);
        if (events.length === 0) return;
        this.deliver(commandId, events, mark?.projectId);
      }
    } catch (err) {
      // The next notification or re-connect reads again from the mark; the followers read (and retry) for themselves.
      this.o.logger?.warn("event log: reading another replica's events failed", { commandId, err: String(err) });
      this.o.followers.wake(commandId);
    }
  }

  private deliver(commandId: string, events: readonly CommandEvent[], projectId: string | undefined): void {
    const mark = this.marks.get(commandId);
    const fresh = mark ? events.slice(firstAfter(events, mark.seq)) : events;
    const last = fresh.at(-1);
    if (!last) return;
    this.setMark(commandId, { seq: last.seq, projectId: projectId ?? mark?.projectId, done: last.type === 'completed' });
    this.o.listeners.emit(commandId, fresh);
    this.o.followers.wake(commandId, fresh);
  }

  private setMark(commandId: string, mark: Mark): void {
    this.marks.delete(commandId);
    this.marks.set(commandId, mark);
    if (this.marks.size > MAX_MARKS) this.marks.delete(this.marks.keys().next().value!);
  }
}
