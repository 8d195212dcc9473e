import type { IdempotencyStore } from '../store/idempotency.js';
import type { CommandStore } from './command-store.js';
import type { AdmitRequest, Coordinator, LocalRun } from './coordinator.js';
import type { CoordinatorHooks } from './run-manager.js';
import { Scheduler, type SchedulerLimits } from './scheduler.js';
import { Turns } from './turns.js';
import type { Command } from './types.js';

/** What a {@link LocalCoordinator} is built from. */
export interface LocalCoordinatorOptions extends Pick<CoordinatorHooks, 'launch' | 'finishQueued' | 'queued' | 'accepted'> {
  store: CommandStore;
  idempotency: IdempotencyStore;
  limits: SchedulerLimits;
}

/**
 * The {@link Coordinator} of one process on its own store (memory or SQLite): the in-memory
 * {@link Scheduler} decides, and admissions are serialised so that a room check and the
 * command it admits are one step even though the store answers asynchronously.
 */
export class LocalCoordinator implements Coordinator {
  private readonly scheduler: Scheduler<LocalRun>;
  /** Admissions, one at a time. */
  private readonly admitting = new Turns();

  constructor(private readonly o: LocalCoordinatorOptions) {
    this.scheduler = new Scheduler(o.limits, (command, stdin) => o.launch(command, 'start', stdin));
  }

  admit(request: AdmitRequest): Promise<{ command: Command; reused: boolean }> {
    return this.admitting.run(() => this.admitNow(request));
  }

  private async admitNow({ draft, caller, idempotencyKey: key, stdin }: AdmitRequest): Promise<{ command: Command; reused: boolean }> {
    if (key) {
      const earlier = await this.o.idempotency.find(caller, key, Date.now());
      const command = earlier === undefined ? undefined : await this.o.store.get(earlier);
      if (command) return { command, reused: true };
    }
    this.scheduler.checkRoom(draft.projectId);
    const command = await this.o.store.insert(draft);
    if (key) await this.o.idempotency.record(caller, key, command.id, Date.now());
    // Decided again after the awaits: nothing else admitted meanwhile, but a slot may have freed.
    const where = this.scheduler.checkRoom(command.projectId);
    this.o.accepted(command, caller);
    if (where === 'queue') this.o.queued(command);
    this.scheduler.submit(command, stdin, where);
    return { command, reused: false };
  }

  async adopt(): Promise<{ running: number; queued: number }> {
    const all = async (status: 'RUNNING' | 'QUEUED'): Promise<Command[]> =>
      (await this.o.store.list({ status, limit: Number.MAX_SAFE_INTEGER })).sort((a, b) => a.ordinal - b.ordinal);
    const running = await all('RUNNING');
    for (const command of running) this.scheduler.hold(this.o.launch(command, 'adopt', undefined));
    const queued = await all('QUEUED');
    for (const command of queued) this.scheduler.enqueue(command);
    this.scheduler.pump();
    return { running: running.length, queued: queued.length };
  }

  async cancel(command: Command): Promise<Command> {
    const run = this.scheduler.slot(command.id);
    if (run) {
      run.requestStop('cancel');
      return command;
    }
    if (!this.scheduler.dequeue(command.id)) return command;
    return this.o.finishQueued(command, 'CANCELED');
  }

  counts(): { running: number; queued: number } {
    return this.scheduler.counts();
  }

  localRuns(): LocalRun[] {
    return this.scheduler.slots();
  }

  drainQueued(): Command[] {
    return this.scheduler.drain();
  }

  async close(): Promise<void> {
    await this.admitting.idle();
  }
}
