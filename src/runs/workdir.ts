import path from 'node:path';
import { BadUserInputError } from '../errors.js';
import type { Project } from '../projects/registry.js';

/**
 * Resolves `workdir` against the project's workspace and returns it relative to the workspace
 * ("" for the workspace itself). It must stay inside: `sub/..` is fine, `../x` and `/etc` are
 * `BAD_USER_INPUT`. This check is lexical and the same for both backends; what only the
 * filesystem can say (a directory that does not exist, a symlink that leads out) is checked
 * where the command runs, when it starts (the supervisor's start script, `cd -P`): the command
 * then ends FAILED with exit 125 and the reason on stderr, on either backend. Checking it here
 * too would answer the local backend differently from the kube one (only the pod can follow its
 * links) and could not hold anyway: the directory may change before a queued command starts.
 */
export function resolveWorkdir(project: Project, workdir: string): string {
  if (workdir === '' || workdir === '.') return '';
  const posix = path.posix;
  const absolute = posix.resolve(project.workspace, workdir);
  const relative = posix.relative(project.workspace, absolute);
  if (relative === '..' || relative.startsWith('../') || posix.isAbsolute(relative)) {
    throw new BadUserInputError('workdir', `must stay inside the workspace ${project.workspace}`);
  }
  return relative;
}
