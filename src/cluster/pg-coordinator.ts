import type { Logger } from '../logger.js';
import type { CommandStore } from '../runs/command-store.js';
import type { AdmitRequest, Coordinator, LocalRun } from '../runs/coordinator.js';
import type { CoordinatorHooks } from '../runs/run-manager.js';
import type { SchedulerLimits } from '../runs/scheduler.js';
import type { Command } from '../runs/types.js';
import type { Fence } from '../store/postgres/fence.js';
import type { Db } from '../store/postgres/pool.js';
import { admit, cancelQueued, claimQueued, requestStop, type Claimed, type Owner } from './admission.js';
import { Turns } from '../runs/turns.js';
import { releaseLeases, renewLeases, takeOver } from './leases.js';

/** What the cluster coordinator needs of the PostgreSQL store. */
export interface ClusterStore {
  db: Db;
  fence: Fence;
  /** Resolves once everything written before the call is committed. */
  flushed(): Promise<void>;
  notifications: {
    on(channel: string, listener: (payload: unknown) => void): () => void;
    onReconnect(listener: () => void): () => void;
    notify(channel: string, payload: unknown): Promise<void>;
  };
  commands: CommandStore & {
    /** Keeps `command` as the live record of a command this process runs now. */
    adoptLive(command: Command): void;
    /** Forgets the live record (the command ended here or went to another replica). */
    dropLive(id: string): void;
  };
}

/** Told of what leases do (metrics); cheap, never throws. */
export interface LeaseMetrics {
  /** A command's lease was taken from a replica that lost it. */
  tookOver(): void;
}

export interface PgCoordinatorOptions extends CoordinatorHooks {
  store: ClusterStore;
  owner: Owner;
  limits: SchedulerLimits;
  logger: Logger;
  metrics?: LeaseMetrics | undefined;
}

/** A stop request as `rdev_stop` carries it. */
interface StopNote {
  commandId: string;
  reason: 'cancel' | 'shutdown';
}

/**
 * The {@link Coordinator} of replicas on one PostgreSQL: admission and the queue are cluster-wide
 * (`admission.ts`), each RUNNING command is run by the replica that holds its lease
 * (`leases.ts`), renewed every third of `RDEV_LEASE_SECONDS`; on the same beat each replica takes
 * over the commands whose lease ran out, re-attaching at the stored spool offsets. Notifications
 * (`rdev_queue`: a command waits or a slot freed; `rdev_stop`: stop a command you run) only
 * wake; the beat catches up whatever a lost notification would have said.
 */
export class PgCoordinator implements Coordinator {
  /** Commands this replica runs: the run and the epoch its lease has. */
  private readonly runs = new Map<string, { run: LocalRun; epoch: number }>();
  /** Commands let go at shutdown (detached, still RUNNING): their leases are handed over by {@link releaseLeases}. */
  private readonly handOver = new Map<string, number>();
  /** This replica's own steps on the database (admit, claim, take over, renew) take turns, so `held` is always current. */
  private readonly turns = new Turns();
  private readonly timer: NodeJS.Timeout;
  private readonly unlisten: Array<() => void> = [];
  private closed = false;
  private pumpAgain = false;
  private pumping = false;

  constructor(private readonly o: PgCoordinatorOptions) {
    const n = o.store.notifications;
    this.unlisten.push(
      n.on('rdev_queue', () => this.pump()),
      n.on('rdev_stop', (p) => {
        const note = p as StopNote;
        this.runs.get(note.commandId)?.run.requestStop(note.reason);
      }),
      n.on('rdev_status', (p) => {
        const note = p as { replica?: string; commandId?: string };
        if (note.replica !== o.owner.replicaId && typeof note.commandId === 'string') o.statusElsewhere(note.commandId);
      }),
      n.onReconnect(() => this.beat()),
      o.store.fence.onFenced((id) => this.lost(id, 'a write found another epoch')),
    );
    this.timer = setInterval(() => this.beat(), Math.max(200, (o.owner.leaseSeconds * 1000) / 3));
    this.timer.unref();
  }

  admit(request: AdmitRequest): Promise<{ command: Command; reused: boolean }> {
    return this.turns.run(async () => {
      if (this.closed) throw new Error('the coordinator is closed');
      const admitted = await this.o.store.db.transaction((q) =>
        admit(q, {
          draft: request.draft,
          caller: request.caller,
          key: request.idempotencyKey,
          stdin: request.stdin,
          limits: this.o.limits,
          owner: this.o.owner,
        }),
      );
      if (admitted.reused) return admitted;
      const { command } = admitted;
      this.o.accepted(command, request.caller);
      // A new row is no write of the write queue's: the other replicas hear of it from here.
      this.notifyStatus(command.id);
      if (admitted.epoch === null) {
        this.o.queued(command);
        void this.o.store.notifications.notify('rdev_queue', { replica: this.o.owner.replicaId }).catch(() => {});
      } else {
        this.launch({ command, epoch: admitted.epoch, stdin: admitted.stdin, stopRequested: null }, 'start');
      }
      return { command, reused: false };
    });
  }

  async adopt(): Promise<{ running: number; queued: number }> {
    const taken = await this.turns.run(() => this.takeOverExpired());
    await this.pumpNow();
    return { running: taken, queued: (await this.counts()).queued };
  }

  async cancel(command: Command): Promise<Command> {
    const local = this.runs.get(command.id);
    if (local) {
      local.run.requestStop('cancel');
      return command;
    }
    if (command.status === 'QUEUED' && (await this.o.store.db.transaction((q) => cancelQueued(q, command.id)))) {
      return this.o.finishQueued(command, 'CANCELED');
    }
    // Running on another replica (or claimed meanwhile): its owner stops it; a taker-over finds the request in the row.
    if (await requestStop(this.o.store.db.query, command.id, 'cancel')) {
      await this.o.store.notifications.notify('rdev_stop', { commandId: command.id, reason: 'cancel' } satisfies StopNote);
    }
    return (await this.o.store.commands.get(command.id)) ?? command;
  }

  async counts(): Promise<{ running: number; queued: number }> {
    const { rows } = await this.o.store.db.query<{ running: number; queued: number }>(
      "SELECT count(*) FILTER (WHERE status = 'RUNNING')::int AS running, count(*) FILTER (WHERE " +
        "status = 'QUEUED')::int AS queued FROM commands WHERE status IN ('RUNNING', 'QUEUED')",
    );
    return rows[0]!;
  }

  localRuns(): LocalRun[] {
    return [...this.runs.values()].map((r) => r.run);
  }

  /** Queued commands stay in the database for the other replicas (or the next start). */
  drainQueued(): Command[] {
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const off of this.unlisten.splice(0)) off();
    await this.turns.idle();
  }

  /** Hands the leases of what this replica detached to the others at once (after its last writes are durable). */
  async releaseLeases(): Promise<void> {
    const held = new Map([...this.handOver, ...[...this.runs].map(([id, r]) => [id, r.epoch] as const)]);
    await releaseLeases(this.o.store.db.query, this.o.owner, held);
  }

  /** How many commands this replica holds the lease of. */
  leasesHeld(): number {
    return this.runs.size;
  }

  /** Runs a command here: it holds the lease at `epoch` until it ends, detaches or loses it. */
  private launch(c: Claimed, mode: 'start' | 'adopt'): void {
    const { command, epoch } = c;
    this.o.store.fence.hold(command.id, epoch);
    this.o.store.commands.adoptLive(command);
    const run = this.o.launch(command, mode, c.stdin);
    this.runs.set(command.id, { run, epoch });
    requestStopIfAsked(run, c.stopRequested);
    void run.done.then(async () => {
      if (this.runs.get(command.id)?.run !== run) return;
      this.runs.delete(command.id);
      if (this.closed) this.handOver.set(command.id, epoch);
      // Its writes still queued (a detached run's last events) are checked against the epoch until they are in.
      await this.o.store.flushed().catch(() => {});
      if (!this.runs.has(command.id)) {
        this.o.store.fence.release(command.id);
        this.o.store.commands.dropLive(command.id);
      }
      // A slot is free (or the command went elsewhere): every replica looks at the queue again.
      if (!this.closed) void this.o.store.notifications.notify('rdev_queue', { replica: this.o.owner.replicaId }).catch(() => {});
    });
  }

  /** The lease of `id` went to another replica: stop following it (it runs on, theirs now). */
  private lost(id: string, why: string): void {
    const local = this.runs.get(id);
    if (!local) return;
    this.o.logger.warn('lease lost: another replica runs the command now', { commandId: id, epoch: local.epoch, why });
    local.run.detach();
  }

  /** Every third of the lease: renew, take over what ran out, look at the queue. */
  private beat(): void {
    if (this.closed) return;
    void this.turns
      .run(async () => {
        const held = new Map([...this.runs].map(([id, r]) => [id, r.epoch]));
        const kept = await renewLeases(this.o.store.db.query, this.o.owner, held);
        for (const id of held.keys()) {
          const local = this.runs.get(id);
          if (!local || local.epoch !== held.get(id)) continue;
          if (!kept.has(id)) this.lost(id, 'the lease could not be renewed');
          else requestStopIfAsked(local.run, kept.get(id) ?? null);
        }
        await this.takeOverExpired();
      })
      .then(() => this.pumpNow())
      .catch((err: unknown) => this.o.logger.warn('lease beat failed (the database may be away); will retry', { err: String(err) }));
  }

  /** Takes over expired leases; returns how many. Call inside {@link turns}. */
  private async takeOverExpired(): Promise<number> {
    if (this.closed) return 0;
    const taken = await this.o.store.db.transaction((q) => takeOver(q, this.o.owner, this.runs.keys()));
    for (const c of taken) {
      this.o.logger.info('took over a command', { commandId: c.command.id, epoch: c.epoch, offsets: c.command.spool });
      this.o.metrics?.tookOver();
      this.launch(c, 'adopt');
    }
    return taken.length;
  }

  /** Looks at the queue soon (coalesced: one claim at a time, one more if asked meanwhile). */
  private pump(): void {
    void this.pumpNow().catch((err: unknown) => this.o.logger.warn('could not look at the queue; will retry', { err: String(err) }));
  }

  private async pumpNow(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        if (this.closed) return;
        await this.turns.run(async () => {
          const claimed = await this.o.store.db.transaction((q) => claimQueued(q, this.o.limits, this.o.owner));
          for (const c of claimed) this.launch(c, 'start');
        });
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private notifyStatus(commandId: string): void {
    void this.o.store.notifications.notify('rdev_status', { replica: this.o.owner.replicaId, commandId }).catch(() => {});
  }
}

/** Carries out a stop asked for through the command's row (`stop_requested`); a run already stopping ignores it. */
function requestStopIfAsked(run: LocalRun, asked: string | null): void {
  if (asked === 'cancel' || asked === 'shutdown') run.requestStop(asked);
}
