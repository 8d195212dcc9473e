#!/usr/bin/env node
// `npm start`'s build: src/*.ts → dist/*.js, transpiled file by file with esbuild (about a tenth
// of a second for all of src/), without type-checking: `npm test` (and `npm run typecheck`)
// check the types, and `npm run build` (tsc) makes the image's dist/. The layout is tsc's
// (tsconfig.build.json: rootDir src, outDir dist), so `node dist/server.js` runs either.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src');
// `--outdir DIR` builds elsewhere (the tests' compiled server, test/durability/compiled-server.ts).
const outdirAt = process.argv.indexOf('--outdir');
const dist = outdirAt > 0 ? path.resolve(process.argv[outdirAt + 1]) : path.join(root, 'dist');

/** Every file under `dir`, as paths relative to it. */
function walk(dir, base = dir) {
  let out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out = out.concat(walk(full, base));
    else out.push(path.relative(base, full));
  }
  return out;
}

const quiet = process.argv.includes('--quiet');
const started = performance.now();
if (!quiet) process.stderr.write('rdev-api: building dist/ from src/ (esbuild, no type check: npm test checks types) … ');
const sources = walk(src).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
const { outputFiles } = await build({
  entryPoints: sources.map((f) => path.join(src, f)),
  outdir: dist,
  outbase: src,
  bundle: false,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'error',
  write: false,
});
/**
 * Replaces `file` with `contents` by a rename, so that a process loading dist/ meanwhile (a
 * server, the rdev CLI, another build) reads the old file or the new one, never half of one.
 */
function replace(file, contents) {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, file);
}
let written = 0;
for (const out of outputFiles) {
  let same = false;
  try {
    same = Buffer.compare(readFileSync(out.path), out.contents) === 0;
  } catch {
    // not there yet
  }
  if (same) continue;
  mkdirSync(path.dirname(out.path), { recursive: true });
  replace(out.path, out.contents);
  written++;
}
// When dist/ was last brought up to date with src/ (bin/rdev.mjs compares src/ with it).
replace(path.join(dist, '.build-stamp'), `${new Date().toISOString()}\n`);
// A source that is gone leaves no module behind that an import could still reach.
const wanted = new Set(sources.map((f) => f.replace(/\.ts$/, '.js')));
let stale = 0;
if (statSync(dist, { throwIfNoEntry: false })?.isDirectory()) {
  for (const f of walk(dist)) {
    const js = f.replace(/\.map$/, '').replace(/\.d\.ts$/, '.js');
    if (/\.(js|js\.map|d\.ts)$/.test(f) && !/\.\d+\.tmp$/.test(f) && !wanted.has(js)) {
      rmSync(path.join(dist, f));
      stale++;
    }
  }
}
if (!quiet)
  process.stderr.write(
    `${sources.length} sources, ${written} files written in ${Math.round(performance.now() - started)} ms${stale ? `, ${stale} stale removed` : ''}\n`,
  );
