// The follower and the check of supervisor.ts, run for real with this machine's sh and coreutils
// against spools made by hand or by the start script.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startArgv } from '../../src/exec/supervisor.js';
import { checkArgv, followArgv, followVerdict, isFinalFollowExit, lostReason, parseCheck } from '../../src/exec/supervisor-follow.js';

const root = mkdtempSync(join(tmpdir(), 'supervisor-follow-'));
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

let spools = 0;
/** A spool made by hand: the files given, nothing else. */
function spool(files: Record<string, string> = {}): string {
  const s = join(root, `s${++spools}`);
  mkdirSync(s);
  for (const [name, text] of Object.entries({ stdout: '', stderr: '', ...files })) writeFileSync(join(s, name), text);
  return s;
}

/** Runs argv to its end; `stdin` is written and ended unless it is 'open' (kept open until `end()`). */
function runArgv(argv: string[], stdin: string | 'open' = '') {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.stdin.on('error', () => undefined); // EPIPE: it may exit without reading its stdin
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  if (stdin !== 'open') child.stdin.end(stdin);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    }),
  );
  return { done, end: () => child.stdin.end() };
}

/** A live process to stand for a supervisor, and a zombie (its child, never reaped by `sleep`). */
function liveAndZombie(): Promise<{ live: number; zombie: number }> {
  const child = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.add(child);
  return new Promise((resolve) => child.stdout.once('data', (b: Buffer) => resolve({ live: child.pid!, zombie: Number(b.toString().trim()) })));
}

async function untilZombie(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const stat = spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout;
    if (/\) Z /.test(stat)) return;
    if (Date.now() > deadline) throw new Error(`${pid} did not become a zombie: ${stat}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('followArgv', () => {
  it('refuses an offset that is not a byte count', () => {
    expect(() => followArgv('/tmp/rdev/x', { stdout: -1, stderr: 0 })).toThrow('invalid offset: -1');
    expect(() => followArgv('/tmp/rdev/x', { stdout: 0, stderr: 1.5 })).toThrow('invalid offset: 1.5');
  });

  it('with an exit record: prints the rest of each stream from its offset and exits with the recorded code', async () => {
    const s = spool({ stdout: '0123456789', stderr: 'abcdef', exit: '7\n' });
    expect(await runArgv(followArgv(s, { stdout: 4, stderr: 5 })).done).toEqual({ code: 7, stdout: '456789', stderr: 'f' });
  });

  it('follows a running command to its end: every byte once, then its exit code', async () => {
    const s = join(root, `run${++spools}`);
    const script = 'i=0; while [ $i -lt 30 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.01; done; exit 3';
    const started = runArgv(startArgv({ spool: s, workspace: root, dir: root, argv: ['sh', '-c', script] }));
    expect((await started.done).code).toBe(0);
    const lines = (p: string) => Array.from({ length: 30 }, (_, i) => `${p} ${i}\n`).join('');
    expect(await runArgv(followArgv(s, { stdout: 0, stderr: 0 }), 'open').done).toEqual({ code: 3, stdout: lines('out'), stderr: lines('err') });
  });

  it('exits 255 for a missing spool, printing nothing', async () => {
    expect(await runArgv(followArgv(join(root, 'nowhere'), { stdout: 0, stderr: 0 })).done).toEqual({ code: 255, stdout: '', stderr: '' });
  });

  it('exits 255 after the rest when the supervisor is a zombie without an exit record', async () => {
    const { zombie } = await liveAndZombie();
    await untilZombie(zombie);
    const s = spool({ stdout: 'partial', supervisor: `${zombie}\n` });
    expect(await runArgv(followArgv(s, { stdout: 2, stderr: 0 }), 'open').done).toEqual({ code: 255, stdout: 'rtial', stderr: '' });
  });

  it('stops at end-of-file on its stdin (its connection went away) while the supervisor lives', async () => {
    const { live } = await liveAndZombie();
    const s = spool({ stdout: 'so far', supervisor: `${live}\n` });
    const f = runArgv(followArgv(s, { stdout: 0, stderr: 0 }), 'open');
    f.end();
    expect(await f.done).toEqual({ code: 255, stdout: expect.any(String), stderr: '' });
  });
});

describe('isFinalFollowExit', () => {
  it('takes 0 to 127 as final, 128 and above (signals, 255) as needing a look', () => {
    expect([0, 1, 125, 127, 128, 137, 143, 255].map(isFinalFollowExit)).toEqual([true, true, true, true, false, false, false, false]);
  });
});

describe('checkArgv and parseCheck', () => {
  const check = (s: string) => parseCheck(spawnSync(checkArgv(s)[0]!, checkArgv(s).slice(1), { encoding: 'utf8' }).stdout);

  it('gives the recorded exit and the sizes of both files', () => {
    expect(check(spool({ stdout: 'abc', stderr: 'hello', exit: '255\n' }))).toEqual({
      state: { type: 'exit', exitCode: 255 },
      sizes: { stdout: 3, stderr: 5 },
    });
  });

  it('says missing, without sizes, for a spool that does not exist', () => {
    expect(check(join(root, 'nowhere'))).toEqual({ state: { type: 'missing' } });
  });

  it('says running while the supervisor lives, and dead when it is a zombie', async () => {
    const { live, zombie } = await liveAndZombie();
    await untilZombie(zombie);
    expect(check(spool({ stdout: 'x', supervisor: `${live}\n` }))).toEqual({ state: { type: 'running' }, sizes: { stdout: 1, stderr: 0 } });
    expect(check(spool({ supervisor: `${zombie}\n` }))).toEqual({ state: { type: 'dead' }, sizes: { stdout: 0, stderr: 0 } });
  });

  it('parses nothing that is not a state', () => {
    expect(parseCheck('exit\n1 2\n')).toBeUndefined();
    expect(parseCheck('running\n- -\n')).toEqual({ state: { type: 'running' } });
  });
});

describe('followVerdict', () => {
  const at = (stdout: number, stderr: number) => ({ stdout, stderr });

  it('is exited when the record exists and every byte was delivered', () => {
    expect(followVerdict({ state: { type: 'exit', exitCode: 255 }, sizes: at(10, 2) }, at(10, 2), '/s')).toEqual({ type: 'exited', exitCode: 255 });
  });

  it('follows again when bytes remain (or the sizes are unknown)', () => {
    expect(followVerdict({ state: { type: 'exit', exitCode: 0 }, sizes: at(10, 2) }, at(9, 2), '/s')).toEqual({ type: 'again' });
    expect(followVerdict({ state: { type: 'exit', exitCode: 0 } }, at(9, 2), '/s')).toEqual({ type: 'again' });
  });

  it('is running while the supervisor runs', () => {
    expect(followVerdict({ state: { type: 'running' }, sizes: at(1, 1) }, at(1, 1), '/s')).toEqual({ type: 'running' });
  });

  it('is lost, with the reason, for a dead supervisor or a missing spool', () => {
    expect(followVerdict({ state: { type: 'dead' } }, at(0, 0), '/s')).toEqual({ type: 'lost', reason: lostReason('dead', '/s') });
    expect(followVerdict({ state: { type: 'missing' } }, at(0, 0), '/s')).toEqual({ type: 'lost', reason: lostReason('missing', '/s') });
  });
});
