import type { AuditLog } from '../audit/audit-log.js';
import type { Guard } from '../auth/guard.js';
import type { Identity } from '../auth/identity.js';
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
  /** Who is asking (the anonymous admin when authentication is off). */
  identity: Identity;
  /** Authorization, limits and the audit of commands, shared with the REST shims. */
  guard: Guard;
  audit: AuditLog;
  /** Aborts when the client goes away or the server shuts down. */
  signal?: AbortSignal;
}
