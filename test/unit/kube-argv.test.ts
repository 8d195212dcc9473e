import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execArgv, killArgv, parsePgid, pidFileFor, shellQuote, termArgv } from '../../src/exec/kube-argv.js';

const dir = mkdtempSync(join(tmpdir(), 'kube-argv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('execArgv', () => {
  it('starts the argv in a new session through setsid -w, with the pid file and directory as arguments', () => {
    const argv = execArgv({ pidFile: '/tmp/rdev-ab.pgid', workspace: '/workspace', dir: '/workspace/sub', argv: ['git', 'status'] });
    expect([...argv.slice(0, 4), ...argv.slice(5)]).toEqual(['setsid', '-w', 'sh', '-c', 'sh', '/tmp/rdev-ab.pgid', '/workspace', '/workspace/sub', 'git', 'status']);
  });

  it('runs the argv in the directory, writes the group id, keeps the exit code and removes the pid file', async () => {
    const pidFile = join(dir, 'a.pgid');
    // The whole argv, setsid included, started as a group leader (as an exec is in a pod): setsid forks and -w waits.
    const [cmd, ...args] = execArgv({ pidFile, workspace: dir, dir, argv: ['sh', '-c', 'pwd; cat "$0"; ps -o pgid= -p $$; exit 7', pidFile] });
    const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    const status = await new Promise((resolve) => child.on('close', resolve));
    const [pwd, written, pgid] = stdout.split('\n').map((l) => l.trim());
    expect({ status, pwd, sameGroup: written === pgid, ownGroup: Number(pgid) !== child.pid, pidFileLeft: existsSync(pidFile) }).toEqual({
      status: 7,
      pwd: dir,
      sameGroup: true,
      ownGroup: true,
      pidFileLeft: false,
    });
  });

  it('exports env values verbatim, quotes included', () => {
    const [, , ...wrapper] = execArgv({ pidFile: join(dir, 'b.pgid'), workspace: dir, dir, argv: ['sh', '-c', 'printf %s "$GREETING"'], env: { GREETING: `it's "$HOME"` } });
    expect(execFileSync(wrapper[0]!, wrapper.slice(1), { encoding: 'utf8' })).toBe(`it's "$HOME"`);
  });

  it('refuses an environment name a shell cannot export', () => {
    expect(() => execArgv({ pidFile: 'f', workspace: dir, dir, argv: ['true'], env: { 'A;rm': 'x' } })).toThrow('invalid environment variable name: "A;rm"');
  });

  it('fails with 125 and says why when the pid file cannot be written', () => {
    const [, , ...wrapper] = execArgv({ pidFile: join(dir, 'no/such/dir.pgid'), workspace: dir, dir, argv: ['true'] });
    const out = spawnSync(wrapper[0]!, wrapper.slice(1), { encoding: 'utf8' });
    expect({ status: out.status, stderr: out.stderr }).toEqual({
      status: 125,
      stderr: `rdev: cannot write ${join(dir, 'no/such/dir.pgid')}: cancelling needs a writable /tmp\n`,
    });
  });

  it('refuses a directory that leads outside the workspace through a symlink, and removes the pid file', () => {
    const workspace = join(dir, 'ws');
    mkdirSync(join(workspace, 'inside'), { recursive: true });
    symlinkSync(tmpdir(), join(workspace, 'escape'));
    const run = (sub: string) => {
      const pidFile = join(dir, `${sub}.pgid`);
      const [, , ...wrapper] = execArgv({ pidFile, workspace, dir: join(workspace, sub), argv: ['pwd'] });
      const out = spawnSync(wrapper[0]!, wrapper.slice(1), { encoding: 'utf8' });
      return { status: out.status, stdout: out.stdout, stderr: out.stderr, pidFileLeft: existsSync(pidFile) };
    };
    expect([run('inside'), run('escape'), run('missing')]).toEqual([
      { status: 0, stdout: `${join(workspace, 'inside')}\n`, stderr: '', pidFileLeft: false },
      { status: 125, stdout: '', stderr: `rdev: ${join(workspace, 'escape')} leads outside the workspace ${workspace}\n`, pidFileLeft: false },
      { status: 125, stdout: '', stderr: `rdev: cannot enter ${join(workspace, 'missing')}\n`, pidFileLeft: false },
    ]);
  });
});

describe('termArgv and killArgv', () => {
  it('prints the group id from the pid file', () => {
    const pidFile = join(dir, 'c.pgid');
    const [, , ...wrapper] = execArgv({ pidFile, workspace: dir, dir, argv: ['true'] });
    execFileSync(wrapper[0]!, wrapper.slice(1));
    // The wrapper removed its pid file; write one for a group that does not exist.
    execFileSync('sh', ['-c', `echo 999999 > ${shellQuote(pidFile)}`]);
    const [cmd, ...args] = termArgv(pidFile);
    expect(execFileSync(cmd!, args, { encoding: 'utf8' })).toBe('999999\n');
    const [kcmd, ...kargs] = killArgv(999999, pidFile);
    execFileSync(kcmd!, kargs);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('term gives up quietly when no pid file appears', () => {
    const [cmd, ...args] = termArgv(join(dir, 'never.pgid'));
    expect(spawnSync(cmd!, args, { encoding: 'utf8' })).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });
});

describe('parsePgid and pidFileFor', () => {
  it('reads a group id and refuses 0, 1 and junk', () => {
    expect([parsePgid('4242\n'), parsePgid(''), parsePgid('0\n'), parsePgid('1'), parsePgid('12 13')]).toEqual([4242, undefined, undefined, undefined, undefined]);
  });

  it('puts the pid file in /tmp', () => {
    expect(pidFileFor('00ff')).toBe('/tmp/rdev-00ff.pgid');
  });
});
