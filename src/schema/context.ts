import type { AuditLog } from '../audit/audit-log.js';
import { UnauthenticatedError } from '../auth/authenticate.js';
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

/** What the server hands Yoga with each request (its server context). */
export interface ServerContext {
  /** The caller, as the gate authenticated it; a request without one is refused. */
  identity?: Identity | undefined;
  /** Aborts when the client goes away or the server shuts down. */
  signal?: AbortSignal | undefined;
}

/**
 * The context of one GraphQL request: the app's parts, with the caller the gate authenticated.
 * A request that reached Yoga without an identity is refused (UNAUTHENTICATED), never treated as
 * anyone: there is no fallback identity.
 */
export function contextOf(parts: Omit<Context, 'identity' | 'signal'>, server: ServerContext, requestSignal: AbortSignal): Context {
  if (!server.identity) throw new UnauthenticatedError('the request carries no identity');
  return { ...parts, identity: server.identity, signal: server.signal ?? requestSignal };
}
