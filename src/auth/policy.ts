import { ApiError, NotFoundError } from '../errors.js';
import type { CommandKind } from '../runs/types.js';
import { canSeeProject, hasRole, type Identity, type Role } from './identity.js';

export class ForbiddenError extends ApiError {
  constructor(message: string) {
    super('FORBIDDEN', message, { http: { status: 403 } });
  }
}

/** What each operation needs; the schema's scopes and the REST shims both use this table. */
export const REQUIRED_ROLE = {
  read: 'viewer',
  subscribe: 'viewer',
  run: 'operator',
  cancel: 'operator',
  audit: 'admin',
} as const satisfies Record<string, Role>;

export type Operation = keyof typeof REQUIRED_ROLE;

/** Throws FORBIDDEN unless `identity` may do `operation`. */
export function assertAllowed(identity: Identity, operation: Operation): void {
  const role = REQUIRED_ROLE[operation];
  if (!hasRole(identity, role)) throw new ForbiddenError(`${operation} needs the ${role} role; token ${identity.name} is ${identity.role}`);
}

/** A project hidden from `identity` does not exist for it: NOT_FOUND, as for an unknown one. */
export function assertVisible(identity: Identity, projectId: string): void {
  if (!canSeeProject(identity, projectId)) throw new NotFoundError('project', projectId);
}

/** Throws unless `identity` may run a `kind` command in `projectId`. */
export function assertMayRun(identity: Identity, projectId: string, kind: CommandKind): void {
  assertVisible(identity, projectId);
  assertAllowed(identity, 'run');
  if (identity.kinds !== null && !identity.kinds.has(kind)) {
    throw new ForbiddenError(`token ${identity.name} may not run ${kind} commands (allowed: ${[...identity.kinds].join(', ')})`);
  }
}
