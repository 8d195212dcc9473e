import { TooManyCommandsError } from '../errors.js';
import type { Command } from './types.js';

/** Concurrency and queue limits (DESIGN.md "Access and limits"). */
export interface SchedulerLimits {
  maxConcurrentPerProject: number;
  /** Running commands across all projects; more wait QUEUED. */
  maxConcurrentTotal: number;
  maxQueued: number;
}

/** A running command as the scheduler sees it. */
export interface Slot {
  readonly id: string;
  readonly projectId: string;
  /** Settles when the command no longer holds its slot. */
  readonly done: Promise<void>;
}

interface Waiting {
  command: Command;
  stdin: string | undefined;
}

/**
 * Admission and order, nothing else: who may run now, who waits, and who goes next. A command
 * behind others of the same project waits its turn even when a slot is free meanwhile; when slots
 * free up, the oldest waiting command (by ordinal) across projects goes first.
 */
export class Scheduler<S extends Slot> {
  private readonly running = new Map<string, S>();
  private readonly queues = new Map<string, Waiting[]>();
  private queued = 0;

  /** `launch` turns a command that may run now into its slot (it must not throw). */
  constructor(
    private readonly limits: SchedulerLimits,
    private readonly launch: (command: Command, stdin: string | undefined) => S,
  ) {}

  /** Whether a new command of `projectId` would have to wait; throws TOO_MANY_COMMANDS if it would and the queue is full. */
  checkRoom(projectId: string): 'run' | 'queue' {
    const mustQueue = !this.hasSlot(projectId) || (this.queues.get(projectId)?.length ?? 0) > 0;
    if (mustQueue && this.queued >= this.limits.maxQueued) throw new TooManyCommandsError(this.limits.maxQueued);
    return mustQueue ? 'queue' : 'run';
  }

  /** Runs `command` now, or queues it (as {@link checkRoom} said just before). */
  submit(command: Command, stdin: string | undefined, where: 'run' | 'queue'): void {
    if (where === 'run') this.hold(this.launch(command, stdin));
    else this.enqueue(command, stdin);
  }

  /** Queues a command behind the others (also: QUEUED commands found at start, in their order). */
  enqueue(command: Command, stdin?: string): void {
    let queue = this.queues.get(command.projectId);
    if (!queue) this.queues.set(command.projectId, (queue = []));
    queue.push({ command, stdin });
    this.queued++;
  }

  /** Counts a slot that is already running (a command adopted after a restart). */
  hold(slot: S): void {
    this.running.set(slot.id, slot);
    void slot.done.then(() => {
      if (this.running.get(slot.id) === slot) this.running.delete(slot.id);
      this.pump();
    });
  }

  /** The running slot of command `id`. */
  slot(id: string): S | undefined {
    return this.running.get(id);
  }

  /** All running slots. */
  slots(): S[] {
    return [...this.running.values()];
  }

  /** Takes command `id` out of its queue; false if it was not queued. */
  dequeue(id: string): boolean {
    for (const queue of this.queues.values()) {
      const at = queue.findIndex((q) => q.command.id === id);
      if (at >= 0) {
        queue.splice(at, 1);
        this.queued--;
        return true;
      }
    }
    return false;
  }

  /** Empties every queue; returns what was waiting, oldest first. */
  drain(): Command[] {
    const all = [...this.queues.values()].flat().map((q) => q.command);
    this.queues.clear();
    this.queued = 0;
    return all.sort((a, b) => a.ordinal - b.ordinal);
  }

  counts(): { running: number; queued: number } {
    return { running: this.running.size, queued: this.queued };
  }

  /** Starts queued commands while there are slots: oldest first, across projects. */
  pump(): void {
    for (;;) {
      let next: Waiting | undefined;
      for (const queue of this.queues.values()) {
        const head = queue[0];
        if (head && this.hasSlot(head.command.projectId) && (!next || head.command.ordinal < next.command.ordinal)) next = head;
      }
      if (!next) return;
      this.queues.get(next.command.projectId)!.shift();
      this.queued--;
      this.hold(this.launch(next.command, next.stdin));
    }
  }

  private hasSlot(projectId: string): boolean {
    if (this.running.size >= this.limits.maxConcurrentTotal) return false;
    let n = 0;
    for (const slot of this.running.values()) if (slot.projectId === projectId) n++;
    return n < this.limits.maxConcurrentPerProject;
  }
}
