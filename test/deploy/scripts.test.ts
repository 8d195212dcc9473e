// The scripts under deploy/: the claudebox init container's init-workspace.sh (run here
// against a local repository instead of one reached over SSH) and new-token.mjs.
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoRoot } from './manifests.js';

const SCRIPT = join(repoRoot, 'deploy/k8s/claudebox/init-workspace.sh');
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
};

let dir: string;
let origin: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rdev-init-workspace-'));
  origin = join(dir, 'origin');
  mkdirSync(origin);
  git(origin, 'init', '-q', '-b', 'main');
  commit(origin, 'README.md', '# origin\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' }).trim();
}

function commit(repo: string, file: string, text: string): string {
  writeFileSync(join(repo, file), text);
  git(repo, 'add', file);
  git(repo, 'commit', '-q', '-m', `write ${file}`);
  return git(repo, 'rev-parse', 'HEAD');
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function runFile(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { env }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Runs init-workspace.sh as the init container would (its env, a minimal one besides). */
function initWorkspace(workspace: string, repoUrl = origin): Promise<Ran> {
  return runFile('sh', [SCRIPT], { PATH: process.env.PATH ?? '', HOME: dir, REPO_URL: repoUrl, WORKSPACE: workspace, ...GIT_ENV });
}

function freshWorkspace(name: string): string {
  const ws = join(dir, name);
  mkdirSync(ws);
  return ws;
}

describe('init-workspace.sh', () => {
  it('clones into an empty workspace, beside the lost+found of a fresh volume', async () => {
    const ws = freshWorkspace('fresh');
    mkdirSync(join(ws, 'lost+found'));
    const result = await initWorkspace(ws);
    expect(result.code, result.stderr).toBe(0);
    expect(git(ws, 'rev-parse', 'HEAD')).toBe(git(origin, 'rev-parse', 'HEAD'));
    expect(readFileSync(join(ws, 'README.md'), 'utf8')).toBe('# origin\n');
    expect(git(ws, 'status', '--porcelain')).toBe('');
    expect(readdirSync(ws).sort()).toEqual(['.git', 'README.md', 'lost+found']);
  });

  it('fetches into an existing checkout and leaves its work alone', async () => {
    const ws = freshWorkspace('existing');
    expect((await initWorkspace(ws)).code).toBe(0);
    const before = git(ws, 'rev-parse', 'HEAD');
    writeFileSync(join(ws, 'README.md'), 'local, uncommitted\n');
    const upstream = commit(origin, 'NEWS.md', 'news\n');

    const result = await initWorkspace(ws);
    expect(result.code, result.stderr).toBe(0);
    expect(git(ws, 'rev-parse', 'origin/main')).toBe(upstream);
    expect(git(ws, 'rev-parse', 'HEAD')).toBe(before);
    expect(readFileSync(join(ws, 'README.md'), 'utf8')).toBe('local, uncommitted\n');
  });

  it('starts anyway when the fetch fails, saying so', async () => {
    const ws = freshWorkspace('offline');
    expect((await initWorkspace(ws)).code).toBe(0);
    git(ws, 'remote', 'set-url', 'origin', join(dir, 'gone'));
    const result = await initWorkspace(ws);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('warning: fetch failed');
  });

  it('refuses a workspace that holds files but no checkout, and touches nothing', async () => {
    const ws = freshWorkspace('occupied');
    writeFileSync(join(ws, 'notes.txt'), 'mine\n');
    const result = await initWorkspace(ws);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('neither empty nor a git checkout');
    expect(readdirSync(ws)).toEqual(['notes.txt']);
  });

  it('fails when the clone fails, and a later run starts over cleanly', async () => {
    const ws = freshWorkspace('retry');
    const failed = await initWorkspace(ws, join(dir, 'no-such-repository'));
    expect(failed.code).not.toBe(0);
    expect(existsSync(join(ws, '.git'))).toBe(false);
    const result = await initWorkspace(ws);
    expect(result.code, result.stderr).toBe(0);
    expect(readdirSync(ws).sort()).toEqual(['.git', 'NEWS.md', 'README.md']);
  });
});

describe('new-token.mjs', () => {
  const newToken = (...args: string[]) => runFile('node', [join(repoRoot, 'deploy/new-token.mjs'), ...args]);

  it('shows the token once on stderr and prints an entry holding only its sha256', async () => {
    const { code, stdout, stderr } = await newToken('bot', 'operator', 'pantheon', 'aeries');
    expect(code, stderr).toBe(0);
    const token = /^token for bot \(shown once\): ([A-Za-z0-9_-]{43})\n$/.exec(stderr)?.[1];
    expect(token, stderr).toBeDefined();
    const parsed = parseYaml(`tokens:\n${stdout}`) as { tokens: unknown[] };
    expect(parsed.tokens).toEqual([
      { name: 'bot', sha256: createHash('sha256').update(token!).digest('hex'), role: 'operator', projects: ['pantheon', 'aeries'] },
    ]);
    expect(stdout).not.toContain(token);
  });

  it('makes a new token every time', async () => {
    const [a, b] = await Promise.all([newToken('x', 'viewer'), newToken('x', 'viewer')]);
    expect(a.stderr).not.toBe(b.stderr);
  });

  it('refuses an unknown role', async () => {
    const { code, stdout, stderr } = await newToken('x', 'root');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^usage: /);
  });
});
