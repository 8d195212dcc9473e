#!/usr/bin/env node
// `rdev`, the command line of rdev-api (src/cli). Runs dist/cli/main.js; in a checkout whose
// src/ changed since dist/ was built, it first rebuilds dist/ (scripts/build-dev.mjs, about 0.2 s;
// an image has no src/ and runs its dist/ as it is).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist', 'cli', 'main.js');
const stamp = path.join(root, 'dist', '.build-stamp');
const src = path.join(root, 'src');

/** The newest modification time under `dir`. */
function newest(dir) {
  let latest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    latest = Math.max(latest, e.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

if (existsSync(src) && (!existsSync(entry) || !existsSync(stamp) || newest(src) > statSync(stamp).mtimeMs)) {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-dev.mjs'), '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const { run } = await import(pathToFileURL(entry).href);
process.exit(await run(process.argv.slice(2)));
