import type { CommandKind } from '../runs/types.js';

/** Roles, each allowed what the one before it is, and more. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Extra limits a token may put on `runGit`. */
export interface GitPolicy {
  /** Refuse `push --force`, `-f`, `--force-with-lease`, `--mirror`, `--delete` and `+refspec` pushes. */
  forbidForcePush: boolean;
  /** Only these subcommands (narrowing the server's allowlist), when set. */
  subcommands: ReadonlySet<string> | null;
}

/** Who is asking, as a token file entry describes them. */
export interface Identity {
  name: string;
  role: Role;
  /** The projects this caller may see; null for all. */
  projects: ReadonlySet<string> | null;
  /** The kinds of command this caller may run; null for all. */
  kinds: ReadonlySet<CommandKind> | null;
  git: GitPolicy;
}

/** The caller when authentication is off (no tokens file): everything is allowed, as on loopback. */
export const ANONYMOUS_ADMIN: Identity = Object.freeze({
  name: 'anonymous',
  role: 'admin',
  projects: null,
  kinds: null,
  git: { forbidForcePush: false, subcommands: null },
});

/** True when `identity` has `role` or a higher one. */
export function hasRole(identity: Identity, role: Role): boolean {
  return ROLES.indexOf(identity.role) >= ROLES.indexOf(role);
}

/** True when `identity` may see `projectId`. */
export function canSeeProject(identity: Identity, projectId: string): boolean {
  return identity.projects === null || identity.projects.has(projectId);
}
