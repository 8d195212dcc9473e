import { realpathSync } from 'node:fs';
import path from 'node:path';
import { BadUserInputError } from '../errors.js';
import type { Project } from '../projects/registry.js';

/**
 * Resolves `workdir` against the project's workspace and returns it relative to the workspace
 * ("" for the workspace itself). It must stay inside: `sub/..` is fine, `../x` and `/etc` are not.
 * For a local project the path is also resolved with symlinks followed and must exist.
 */
export function resolveWorkdir(project: Project, workdir: string): string {
  if (workdir === '' || workdir === '.') return '';
  const posix = path.posix;
  const absolute = posix.resolve(project.workspace, workdir);
  const relative = posix.relative(project.workspace, absolute);
  if (relative === '..' || relative.startsWith('../') || posix.isAbsolute(relative)) {
    throw new BadUserInputError('workdir', `must stay inside the workspace ${project.workspace}`);
  }
  if (project.pod === null) {
    let real: string;
    try {
      real = realpathSync(absolute);
    } catch {
      throw new BadUserInputError('workdir', `${relative} does not exist in the workspace`);
    }
    const root = realpathSync(project.workspace);
    const inside = path.relative(root, real);
    if (inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) {
      throw new BadUserInputError('workdir', `must stay inside the workspace (${relative} leads outside through a symlink)`);
    }
  }
  return relative;
}
