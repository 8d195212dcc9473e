import type { NewCommand } from './command-store.js';
import type { Command } from './types.js';

/** A new command to admit (see {@link Coordinator.admit}). */
export interface AdmitRequest {
  draft: NewCommand;
  /** Who asks (a token name); idempotency keys are per caller. */
  caller: string;
  idempotencyKey?: string | undefined;
  stdin?: string | undefined;
}

/** A command running in this process, as a coordinator holds it. */
export interface LocalRun {
  readonly id: string;
  readonly projectId: string;
  /** Settles when this process is done with the command (finished, or detached). */
  readonly done: Promise<void>;
  requestStop(reason: 'cancel' | 'shutdown'): void;
  /** Stops following the command and leaves it running (shutdown, or its lease went to another replica). */
  detach(): void;
}

/**
 * Who runs which command, and when: admission (limits, queue order, idempotency keys) and the
 * commands this process runs. One process on SQLite has a local one (`local-coordinator.ts`);
 * replicas on PostgreSQL share a cluster-wide one, with leases.
 */
export interface Coordinator {
  /**
   * Records a new command, atomically with its idempotency key and the room checks: QUEUED, or
   * RUNNING and started here when it may run at once. A key the caller used within a day returns
   * that first command (`reused`). Throws TOO_MANY_COMMANDS when it would wait and the queue is full.
   */
  admit(request: AdmitRequest): Promise<{ command: Command; reused: boolean }>;
  /** Takes over, once at start, what a previous server left RUNNING or QUEUED. */
  adopt(): Promise<{ running: number; queued: number }>;
  /**
   * Stops a command: a queued one ends CANCELED at once (resolves with it); a running one is asked
   * to stop wherever it runs (resolves with it as it is now, RUNNING).
   */
  cancel(command: Command): Promise<Command>;
  /** Commands running and waiting (cluster-wide where there are replicas: asked of the database). */
  counts(): { running: number; queued: number } | Promise<{ running: number; queued: number }>;
  /** The commands this process runs now. */
  localRuns(): LocalRun[];
  /** Takes every QUEUED command this process holds out of its queue (shutdown with `stop`); replicas leave theirs to the others. */
  drainQueued(): Command[];
  /** Stops taking and starting commands (shutdown). */
  close(): Promise<void>;
}
