import type { Logger } from '../logger.js';
import type { ProjectRegistry } from '../projects/registry.js';
import type { ProjectEvents } from '../runs/project-events.js';
import type { RunManager } from '../runs/run-manager.js';

/** What every resolver can reach; resolvers touch I/O only through it. */
export interface Context {
  runs: RunManager;
  registry: ProjectRegistry;
  projectEvents: ProjectEvents;
  logger: Logger;
  /** Who is asking (a token name once authentication is on); idempotency keys are per caller. */
  caller: string;
  /** Aborts when the client goes away. */
  signal?: AbortSignal;
}
