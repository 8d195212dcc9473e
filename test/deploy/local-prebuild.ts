import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Packs the better-sqlite3 addon this machine has already built (node_modules/better-sqlite3/
 * build/Release/better_sqlite3.node) as the release asset prebuild-install looks for
 * (`better-sqlite3-v{version}-node-v{abi}-{platform}-{arch}.tar.gz`) into `dir`, and returns the
 * environment that makes prebuild-install take it from there (`npm_config_better_sqlite3_local_prebuilds`).
 * A Docker build of Dockerfile.api downloads that asset from the package's GitHub releases; the
 * replay may not leave the machine, and compiling the addon again took minutes on a busy 2-core
 * machine. The install step itself (npm ci running the package's install script) is the same.
 */
export async function localBetterSqlitePrebuild(repoRoot: string, dir: string): Promise<Record<string, string>> {
  const packageDir = join(repoRoot, 'node_modules/better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { version: string };
  const asset = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  await run('tar', ['-czf', join(dir, asset), '-C', packageDir, 'build/Release/better_sqlite3.node']);
  return { npm_config_better_sqlite3_local_prebuilds: dir };
}
