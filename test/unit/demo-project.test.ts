import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEMO_FILES, ensureDemoProject } from '../../src/projects/demo-project.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A checkout-like folder whose own `npm test` must never run from the demo. */
function parentPackage(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rdev-demo-'));
  dirs.push(root);
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'outer', scripts: { test: 'echo THE-OUTER-SUITE; exit 7' } }));
  return root;
}

const gitOut = (dir: string, ...args: string[]): string => execFileSync('git', args, { cwd: dir }).toString().trim();

describe('the demo project', () => {
  it('is created as a git repository with one commit holding every file', () => {
    const dir = path.join(parentPackage(), '.rdev', 'projects', 'demo');
    ensureDemoProject(dir);
    expect(gitOut(dir, 'log', '--format=%an %s')).toBe('rdev-bot Initial commit: slugify and wordCount, with tests');
    expect(gitOut(dir, 'ls-files').split('\n').sort()).toEqual(Object.keys(DEMO_FILES).sort());
    expect(gitOut(dir, 'status', '--porcelain')).toBe('');
  });

  it("npm test in it runs its own tests (node --test), not the surrounding package's", () => {
    const dir = path.join(parentPackage(), '.rdev', 'projects', 'demo');
    ensureDemoProject(dir);
    const run = spawnSync('npm', ['test'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(run.status).toBe(0);
    expect(run.stdout).not.toContain('THE-OUTER-SUITE');
    expect(run.stdout).toMatch(/^> demo@1\.0\.0 test$/m);
    expect(run.stdout).toMatch(/pass 3/);
    expect(run.stdout).toMatch(/fail 0/);
  });

  it('is left alone once it exists', () => {
    const dir = path.join(parentPackage(), 'demo');
    ensureDemoProject(dir);
    writeFileSync(path.join(dir, 'src', 'text.js'), 'export const changed = true;\n');
    ensureDemoProject(dir);
    expect(readFileSync(path.join(dir, 'src', 'text.js'), 'utf8')).toBe('export const changed = true;\n');
    expect(gitOut(dir, 'rev-list', '--count', 'HEAD')).toBe('1');
  });

  it("an older rdev-api's demo (a README alone) gets the files it lacks in a second commit", () => {
    const dir = path.join(parentPackage(), 'demo');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'README.md'), '# demo\n');
    execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: dir });
    execFileSync('git', ['add', 'README.md'], { cwd: dir });
    execFileSync('git', ['-c', 'user.name=x', '-c', 'user.email=x@x', 'commit', '-q', '-m', 'Initial commit'], { cwd: dir });
    ensureDemoProject(dir);
    expect(gitOut(dir, 'log', '--format=%s')).toBe('A package with a source file and its tests (npm test)\nInitial commit');
    expect(readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('# demo\n');
    expect(existsSync(path.join(dir, 'test', 'text.test.js'))).toBe(true);
    expect(gitOut(dir, 'status', '--porcelain')).toBe('');
  });
});
