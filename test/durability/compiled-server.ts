import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * The server built as `npm start` builds it (`scripts/build-dev.mjs`: esbuild, about a second),
 * cached under `node_modules/.cache/rdev-server/<hash>` by the hash of everything the build reads
 * (src/, the build script, the lockfile): the soak, the replica tests and the benches share one
 * build, and a second run compiles nothing. Inside the repository, so that the build resolves
 * `node_modules`. Not tsc (the image's build, tested by test/deploy): a synchronous tsc took
 * over a minute on a busy 2-core machine, and a test worker blocked that long loses vitest's
 * RPC ("Timeout calling onTaskUpdate").
 */

const root = path.resolve(import.meta.dirname, '../..');
const cache = path.join(root, 'node_modules/.cache/rdev-server');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of [...files(path.join(root, 'src')), ...['scripts/build-dev.mjs', 'package-lock.json'].map((f) => path.join(root, f))]) {
    hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/** Returns the path of the compiled `server.js`, compiling first if this source has no build yet. */
export function compiledServer(): string {
  const dir = path.join(cache, sourceHash());
  const entry = path.join(dir, 'server.js');
  if (existsSync(entry)) return entry;
  // Compiled beside the target and renamed into place: a concurrent caller sees a whole build or none.
  mkdirSync(cache, { recursive: true });
  const partial = `${dir}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  execFileSync(process.execPath, [path.join(root, 'scripts/build-dev.mjs'), '--quiet', '--outdir', partial]);
  try {
    renameSync(partial, dir);
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(entry)) throw err;
  }
  return entry;
}
