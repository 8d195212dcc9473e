import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { AttachOutcome, Executor, Offsets, StartRequest, SupervisedRef } from '../../src/exec/executor.js';
import { createLocalExecutor, type LocalExecutorOptions } from '../../src/exec/local.js';
import { SPOOL_TAIL_BYTES, spoolDirOf } from '../../src/exec/supervisor.js';
import { lostReason } from '../../src/exec/supervisor-follow.js';

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Whether `pid` is a running process (a zombie is not: this machine's init may not reap). */
function isLive(pid: number): boolean {
  const ps = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  const stat = ps.stdout.trim();
  return ps.status === 0 && stat !== '' && !stat.startsWith('Z');
}

/** The running processes of a process group, with their command names. */
function groupMembers(pgid: number): { pid: number; comm: string }[] {
  const ps = spawnSync('ps', ['-e', '-o', 'pid=,pgid=,stat=,comm='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, g, stat]) => Number(g) === pgid && stat !== undefined && !stat.startsWith('Z'))
    .map(([pid, , , comm]) => ({ pid: Number(pid), comm: comm ?? '' }));
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

interface Collected {
  outcome: AttachOutcome;
  stdout: Buffer;
  stderr: Buffer;
}

/** Attaches from `offsets` and gathers what arrives; `detachWhen` aborts once it holds. */
async function collect(
  executor: Executor,
  ref: SupervisedRef,
  offsets: Offsets = { stdout: 0, stderr: 0 },
  detachWhen?: (c: Omit<Collected, 'outcome'>) => boolean,
): Promise<Collected> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const ac = new AbortController();
  const outcome = await executor.attach({
    ...ref,
    offsets,
    signal: ac.signal,
    onOutput: (stream, bytes) => {
      (stream === 'STDOUT' ? out : err).push(Buffer.from(bytes));
      if (detachWhen?.({ stdout: Buffer.concat(out), stderr: Buffer.concat(err) })) ac.abort();
    },
  });
  return { outcome, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
}

/** A temp workspace and spool, an executor, and everything a test starts, cleaned up after it. */
function setup(options: Partial<LocalExecutorOptions> = {}) {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'local-executor-')));
  const workspace = join(root, 'workspace');
  const spoolDir = join(root, 'spool');
  mkdirSync(workspace);
  const executors: Executor[] = [];
  const commandIds: string[] = [];
  let next = 0;
  const newExecutor = (): Executor => {
    const e = createLocalExecutor({ ...options, spoolDir });
    executors.push(e);
    return e;
  };
  const executor = newExecutor();
  const refOf = (commandId: string): SupervisedRef => ({ target: { projectId: 'p', workspace }, commandId });
  const start = async (argv: string[], more: Partial<StartRequest> = {}) => {
    const ref = refOf(`c-${++next}`);
    commandIds.push(ref.commandId);
    const started = await executor.start({ ...ref, argv, workdir: '', ...more });
    return { ref, pgid: started.pgid, spool: spoolDirOf(spoolDir, ref.commandId) };
  };
  cleanups.push(async () => {
    await Promise.all(executors.map((e) => e.close()));
    const supervisors: number[] = [];
    for (const id of commandIds) {
      const spool = spoolDirOf(spoolDir, id);
      const read = (f: string): number => (existsSync(`${spool}/${f}`) ? Number(readFileSync(`${spool}/${f}`, 'utf8').trim()) : 0);
      if (read('pgid') > 1) killQuietly(-read('pgid'));
      if (read('supervisor') > 1) supervisors.push(read('supervisor'));
    }
    // The supervisors write their exit records once their groups are gone: let them finish before the spool goes.
    await waitFor(() => supervisors.every((pid) => !isLive(pid)), 'the supervisors to exit');
    rmSync(root, { recursive: true, force: true });
  });
  return { root, workspace, spoolDir, executor, newExecutor, refOf, start };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The running processes whose arguments contain `text` (a spool path), with their groups. */
function processesWith(text: string): { pid: number; pgid: number; args: string }[] {
  const ps = spawnSync('ps', ['-e', '-o', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && !m[3]!.startsWith('Z') && m[4]!.includes(text))
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), args: m[4]! }));
}

/** A spool file's apparent size and the bytes it holds on disk. */
function diskUse(file: string): { size: number; allocated: number } {
  const s = statSync(file);
  return { size: s.size, allocated: s.blocks * 512 };
}

/** `n` bytes of `line` repeated (no NUL: a punched range reads back as zeros). */
const pattern = (line: string, n: number): Buffer => Buffer.from(line.repeat(Math.ceil(n / line.length)).slice(0, n));

/** A command that runs until `gate` exists, then prints `finished`. */
const gated = (gate: string): string[] => ['sh', '-c', 'while [ ! -e "$1" ]; do sleep 0.02; done; echo finished', 'sh', gate];

describe('local executor', () => {
  it('delivers both streams whole, with the exit code', async () => {
    const { executor, start } = setup();
    const { ref, pgid } = await start(['sh', '-c', 'printf a; echo b >&2; printf c; echo d >&2']);
    expect(pgid).toBeGreaterThan(1);
    const c = await collect(executor, ref);
    expect({ outcome: c.outcome, stdout: c.stdout.toString(), stderr: c.stderr.toString() }).toEqual({
      outcome: { type: 'exited', exitCode: 0 },
      stdout: 'ac',
      stderr: 'b\nd\n',
    });
  });

  it('gives the command its stdin, byte for byte', async () => {
    const { executor, start } = setup();
    const stdin = Uint8Array.from([0, 1, 2, 0xff, 0x0a, 0x41, 0]);
    const { ref } = await start(['cat'], { stdin });
    const c = await collect(executor, ref);
    expect({ outcome: c.outcome, stdout: [...c.stdout] }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: [...stdin] });
  });

  it('gives the command an empty stdin when there is none', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['sh', '-c', 'wc -c']);
    const c = await collect(executor, ref);
    expect({ outcome: c.outcome, stdout: c.stdout.toString().trim() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: '0' });
  });

  it('passes extra environment variables verbatim', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['sh', '-c', 'printf %s "$RDEV_TEST_VALUE"'], { env: { RDEV_TEST_VALUE: `it's $HOME; "q"` } });
    const c = await collect(executor, ref);
    expect(c.stdout.toString()).toBe(`it's $HOME; "q"`);
  });

  it("gives a command PATH, HOME, LANG and TERM of the server's environment, the names it was told of, and nothing else", async () => {
    const set = { RDEV_TEST_SECRET: 'server only', RDEV_TEST_SHARED: 'for commands' };
    Object.assign(process.env, set);
    try {
      const { executor, start } = setup({ envNames: ['RDEV_TEST_SHARED', 'RDEV_TEST_UNSET'] });
      const { ref } = await start(['sh', '-c', 'env -0'], { env: { RDEV_TEST_EXTRA: 'from the request' } });
      const c = await collect(executor, ref);
      const env = Object.fromEntries(
        c.stdout
          .toString()
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      // What sh sets by itself is not the server's.
      for (const own of ['PWD', 'OLDPWD', 'SHLVL', '_']) delete env[own];
      const inherited = Object.fromEntries(['HOME', 'LANG', 'PATH', 'TERM'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
      expect(env).toEqual({ ...inherited, RDEV_TEST_SHARED: 'for commands', RDEV_TEST_EXTRA: 'from the request' });
    } finally {
      for (const k of Object.keys(set)) delete process.env[k];
    }
  });

  it('runs in the workdir inside the workspace', async () => {
    const { executor, start, workspace } = setup();
    mkdirSync(join(workspace, 'sub'));
    const { ref } = await start(['pwd'], { workdir: 'sub' });
    const c = await collect(executor, ref);
    expect({ outcome: c.outcome, stdout: c.stdout.toString() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: `${workspace}/sub\n` });
  });

  it('records the exit code of a failing command', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['sh', '-c', 'exit 3']);
    expect((await collect(executor, ref)).outcome).toEqual({ type: 'exited', exitCode: 3 });
  });

  it('records a death by signal n as 128 + n', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['sh', '-c', 'kill -s KILL $$']);
    expect((await collect(executor, ref)).outcome).toEqual({ type: 'exited', exitCode: 137 });
  });

  it('refuses a workdir that leads outside the workspace through a symlink: exit 125 and an rdev line on stderr', async () => {
    const { executor, start, workspace, root } = setup();
    mkdirSync(join(root, 'elsewhere'));
    symlinkSync(join(root, 'elsewhere'), join(workspace, 'out'));
    const { ref, pgid } = await start(['sh', '-c', 'touch escaped'], { workdir: 'out' });
    const c = await collect(executor, ref);
    expect({ pgid, outcome: c.outcome, stdout: c.stdout.toString(), escaped: existsSync(join(root, 'elsewhere', 'escaped')) }).toEqual({
      pgid: null,
      outcome: { type: 'exited', exitCode: 125 },
      stdout: '',
      escaped: false,
    });
    expect(c.stderr.toString()).toBe(`rdev: ${workspace}/out leads outside the workspace ${workspace}\n`);
  });

  it('rejects a start whose spool cannot be created, with the reason', async () => {
    const { root, workspace } = setup();
    writeFileSync(join(root, 'not-a-dir'), '');
    const executor = createLocalExecutor({ spoolDir: join(root, 'not-a-dir') });
    try {
      await expect(executor.start({ target: { projectId: 'p', workspace }, commandId: 'c-1', argv: ['true'], workdir: '' })).rejects.toThrow(
        /^rdev: cannot create the spool /,
      );
    } finally {
      await executor.close();
    }
  });

  it('attaches from non-zero offsets and delivers exactly the remaining bytes', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['sh', '-c', 'printf 0123456789; printf abcdef >&2']);
    const whole = await collect(executor, ref);
    const rest = await collect(executor, ref, { stdout: 4, stderr: 2 });
    expect(rest.outcome).toEqual({ type: 'exited', exitCode: 0 });
    expect({
      stdout: Buffer.concat([whole.stdout.subarray(0, 4), rest.stdout]).toString(),
      stderr: Buffer.concat([whole.stderr.subarray(0, 2), rest.stderr]).toString(),
    }).toEqual({ stdout: '0123456789', stderr: 'abcdef' });
  });

  it('resumes after a detach mid-run from the offsets reached: not a byte lost, not a byte repeated', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['sh', '-c', 'i=0; while [ $i -lt 50 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); sleep 0.02; done']);
    const first = await collect(executor, ref, undefined, (c) => c.stdout.toString().split('\n').length > 10);
    expect(first.outcome).toEqual({ type: 'detached' });
    const second = await collect(executor, ref, { stdout: first.stdout.length, stderr: first.stderr.length });
    expect(second.outcome).toEqual({ type: 'exited', exitCode: 0 });
    const lines = (prefix: string): string => Array.from({ length: 50 }, (_, i) => `${prefix} ${i}\n`).join('');
    expect({
      stdout: Buffer.concat([first.stdout, second.stdout]).toString(),
      stderr: Buffer.concat([first.stderr, second.stderr]).toString(),
    }).toEqual({ stdout: lines('line'), stderr: lines('err') });
  });

  it('leaves the command running when its attach detaches and when the executor closes', async () => {
    const { executor, newExecutor, start, root } = setup();
    const gate = join(root, 'gate');
    const { ref, pgid, spool } = await start(gated(gate));
    const ac = new AbortController();
    const detached = executor.attach({ ...ref, offsets: { stdout: 0, stderr: 0 }, onOutput: () => {}, signal: ac.signal });
    ac.abort();
    expect(await detached).toEqual({ type: 'detached' });
    expect({ running: groupMembers(pgid!).length > 0, exitRecord: existsSync(`${spool}/exit`) }).toEqual({ running: true, exitRecord: false });

    const open = executor.attach({ ...ref, offsets: { stdout: 0, stderr: 0 }, onOutput: () => {}, signal: new AbortController().signal });
    await executor.close();
    expect(await open).toEqual({ type: 'detached' });
    expect({ running: groupMembers(pgid!).length > 0, exitRecord: existsSync(`${spool}/exit`) }).toEqual({ running: true, exitRecord: false });

    writeFileSync(gate, '');
    const c = await collect(newExecutor(), ref);
    expect({ outcome: c.outcome, stdout: c.stdout.toString() }).toEqual({ outcome: { type: 'exited', exitCode: 0 }, stdout: 'finished\n' });
  });

  it('SIGTERM reaches the whole process tree; the attach ends exited 143', async () => {
    const { executor, start } = setup();
    const { ref, pgid } = await start(['sh', '-c', 'sleep 300 & sleep 300']);
    await waitFor(() => groupMembers(pgid!).filter((m) => m.comm === 'sleep').length === 2, 'both sleeps to run');
    const members = groupMembers(pgid!);
    const attached = collect(executor, ref);
    await executor.signal(ref, 'SIGTERM');
    expect((await attached).outcome).toEqual({ type: 'exited', exitCode: 143 });
    expect(members.filter((m) => isLive(m.pid))).toEqual([]);
  });

  it('signals nothing once the command has exited, and does not fail', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['true']);
    expect((await collect(executor, ref)).outcome).toEqual({ type: 'exited', exitCode: 0 });
    await expect(executor.signal(ref, 'SIGKILL')).resolves.toBeUndefined();
  });

  it('ends lost, naming the missing exit record, when the supervisor is killed while the command runs', async () => {
    const { executor, start, root } = setup();
    const { ref, spool } = await start(gated(join(root, 'gate')));
    const supervisor = Number(readFileSync(`${spool}/supervisor`, 'utf8').trim());
    const attached = collect(executor, ref);
    process.kill(supervisor, 'SIGKILL');
    expect((await attached).outcome).toEqual({ type: 'lost', reason: lostReason('dead', spool) });
    expect(lostReason('dead', spool)).toMatch(/without an exit record/);
  });

  it('ends lost when the spool is missing', async () => {
    const { executor, refOf, spoolDir } = setup();
    const c = await collect(executor, refOf('never-started'));
    expect(c.outcome).toEqual({ type: 'lost', reason: lostReason('missing', spoolDirOf(spoolDir, 'never-started')) });
  });

  it('detaches at once when the signal is already aborted, and rejects a command id that is no directory name', async () => {
    const { executor, start, refOf } = setup();
    const { ref } = await start(['true']);
    const aborted = AbortSignal.abort();
    expect(await executor.attach({ ...ref, offsets: { stdout: 0, stderr: 0 }, onOutput: () => {}, signal: aborted })).toEqual({ type: 'detached' });
    await expect(
      executor.attach({ ...refOf('../x'), offsets: { stdout: 0, stderr: 0 }, onOutput: () => {}, signal: new AbortController().signal }),
    ).rejects.toThrow(/invalid command id/);
  });

  it('remove deletes the spool', async () => {
    const { executor, start } = setup();
    const { ref, spool } = await start(['echo', 'x']);
    expect((await collect(executor, ref)).outcome).toEqual({ type: 'exited', exitCode: 0 });
    await executor.remove(ref);
    expect(existsSync(spool)).toBe(false);
    await expect(executor.remove(ref)).resolves.toBeUndefined();
  });

  describe('with maxSpoolBytes', () => {
    const max = 1_000_000;
    /** A little over the bound: the block holding byte `max`, and what a writer appended since the last check. */
    const slack = 256 * 1024;
    const OUT = 'abcdefghi\n';
    const ERR = 'ZYXWVUTSR\n';

    /** The bound on what a file holds on disk: the bytes up to the bound, the tail kept, a block on each side of the hole and the slack. */
    const onDiskBound = max + SPOOL_TAIL_BYTES + 2 * 4096 + slack;

    /**
     * Checks both spool files after the exit: bounded on disk, full size, the first `max` bytes and the last
     * {@link SPOOL_TAIL_BYTES} intact, zeros between; and the attach delivered every byte, the real ones up to the bound.
     */
    const expectBounded = (spool: string, c: Collected) => {
      const out = diskUse(`${spool}/stdout`);
      const err = diskUse(`${spool}/stderr`);
      expect({ outcome: c.outcome, delivered: [c.stdout.length, c.stderr.length], sizes: [out.size, err.size] }).toEqual({
        outcome: { type: 'exited', exitCode: 0 },
        delivered: [5_000_000, 3_000_000],
        sizes: [5_000_000, 3_000_000],
      });
      expect(out.allocated).toBeLessThanOrEqual(onDiskBound);
      expect(err.allocated).toBeLessThanOrEqual(onDiskBound);
      const onDisk = { stdout: readFileSync(`${spool}/stdout`), stderr: readFileSync(`${spool}/stderr`) };
      for (const [file, line, size] of [
        [onDisk.stdout, OUT, 5_000_000],
        [onDisk.stderr, ERR, 3_000_000],
      ] as const) {
        const whole = pattern(line, size);
        expect(file.subarray(0, max).equals(whole.subarray(0, max))).toBe(true);
        // The freed range reads back as zeros; the tail is kept.
        expect(file.subarray(max + 4096, size - SPOOL_TAIL_BYTES - 4096).every((b) => b === 0)).toBe(true);
        expect(file.subarray(size - SPOOL_TAIL_BYTES).equals(whole.subarray(size - SPOOL_TAIL_BYTES))).toBe(true);
      }
      // What the attach delivered up to the bound is the command's output.
      expect(c.stdout.subarray(0, max).equals(pattern(OUT, max))).toBe(true);
      expect(c.stderr.subarray(0, max).equals(pattern(ERR, max))).toBe(true);
    };

    it('frees the blocks past the bound while the command runs (a slow writer): sizes and offsets stay, the attach ends exited with every byte', async () => {
      const { executor, start, root } = setup({ maxSpoolBytes: max });
      const gate = join(root, 'gate');
      // 5 MB of stdout and 3 MB of stderr over ~1.5 s, then it waits for the gate: the checker must have punched by itself.
      const script =
        'i=0; while [ $i -lt 5 ]; do yes abcdefghi | head -c 1000000; [ $i -lt 3 ] && yes ZYXWVUTSR | head -c 1000000 >&2; sleep 0.3; i=$((i+1)); done; ' +
        'while [ ! -e "$1" ]; do sleep 0.02; done';
      const { ref, spool } = await start(['sh', '-c', script, 'sh', gate]);
      const attached = collect(executor, ref);
      await waitFor(() => {
        const out = diskUse(`${spool}/stdout`);
        const err = diskUse(`${spool}/stderr`);
        return out.size === 5_000_000 && err.size === 3_000_000 && out.allocated <= onDiskBound && err.allocated <= onDiskBound;
      }, 'the checker to free the blocks past the bound while the command runs');
      expect(existsSync(`${spool}/exit`)).toBe(false);
      writeFileSync(gate, '');
      expectBounded(spool, await attached);
    });

    it('bounds a fast writer too (the last check before the exit record)', async () => {
      const { executor, start } = setup({ maxSpoolBytes: max });
      const { ref, spool } = await start(['sh', '-c', 'yes abcdefghi | head -c 5000000; yes ZYXWVUTSR | head -c 3000000 >&2']);
      expectBounded(spool, await collect(executor, ref));
    });

    it("runs the checker outside the command's group, and leaves no process once the command has ended", async () => {
      const { executor, start } = setup({ maxSpoolBytes: max });
      const { ref, pgid, spool } = await start(['sh', '-c', 'sleep 300']);
      // The checker's own shell (the supervisor's arguments hold its script too; setsid runs only a moment).
      const isChecker = (p: { args: string }): boolean =>
        p.args.startsWith('sh -c s=$1; m=$2; t=$3; ') && p.args.endsWith(` rdev-spool-check ${spool} ${max} ${SPOOL_TAIL_BYTES}`);
      await waitFor(() => processesWith(spool).some(isChecker), 'the checker to run');
      const checker = processesWith(spool).find(isChecker)!;
      const supervisor = Number(readFileSync(`${spool}/supervisor`, 'utf8').trim());
      expect({ inTheCommandsGroup: checker.pgid === pgid, inTheSupervisorsGroup: checker.pgid === supervisor }).toEqual({
        inTheCommandsGroup: false,
        inTheSupervisorsGroup: false,
      });
      // A second to let it check at least once.
      await sleep(1200);
      const attached = collect(executor, ref);
      await executor.signal(ref, 'SIGTERM');
      expect((await attached).outcome).toEqual({ type: 'exited', exitCode: 143 });
      // Gone by the time the exit is recorded.
      expect(isLive(checker.pid)).toBe(false);
      await waitFor(() => !isLive(supervisor), 'the supervisor to exit', 5000);
      expect(processesWith(spool)).toEqual([]);
    });
  });

  it('with maxSpoolBytes, commands that end at once still record their exit and leave no checker (it may not have made its group yet)', async () => {
    const { executor, start, spoolDir } = setup({ maxSpoolBytes: 1_000_000 });
    const started = [];
    for (let i = 0; i < 20; i++) started.push(await start(['true']));
    const outcomes = await Promise.all(started.map(async ({ ref }) => (await collect(executor, ref)).outcome));
    expect(outcomes).toEqual(Array(20).fill({ type: 'exited', exitCode: 0 }));
    const supervisors = started.map(({ spool }) => Number(readFileSync(`${spool}/supervisor`, 'utf8').trim()));
    await waitFor(() => supervisors.every((pid) => !isLive(pid)), 'the supervisors to exit', 5000);
    expect(processesWith(spoolDir)).toEqual([]);
  });

  it('punches nothing without maxSpoolBytes', async () => {
    const { executor, start } = setup();
    const { ref, spool } = await start(['sh', '-c', 'yes abcdefghi | head -c 5000000; yes ZYXWVUTSR | head -c 3000000 >&2']);
    const c = await collect(executor, ref);
    expect({ outcome: c.outcome, delivered: [c.stdout.length, c.stderr.length] }).toEqual({
      outcome: { type: 'exited', exitCode: 0 },
      delivered: [5_000_000, 3_000_000],
    });
    // Every byte is still there (a punched range would read back as zeros).
    expect(readFileSync(`${spool}/stdout`).equals(pattern('abcdefghi\n', 5_000_000))).toBe(true);
    expect(readFileSync(`${spool}/stderr`).equals(pattern('ZYXWVUTSR\n', 3_000_000))).toBe(true);
  });

  it('delivers a large output complete', async () => {
    const { executor, start } = setup();
    const { ref } = await start(['seq', '1', '200000']);
    const c = await collect(executor, ref);
    expect(c.outcome).toEqual({ type: 'exited', exitCode: 0 });
    const expected = Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join('');
    expect(c.stdout.length).toBe(expected.length);
    expect(c.stdout.toString() === expected).toBe(true);
  });
});
