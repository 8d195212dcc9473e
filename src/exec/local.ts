import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ExecOutcome, ExecRequest, Executor } from './executor.js';

/** Options of the local executor. */
export interface LocalExecutorOptions {
  /**
   * How long a process group has after SIGTERM before it gets SIGKILL.
   * @default 2000
   */
  killGraceMs?: number;
  /**
   * How long to wait for the output pipes to drain after the main process exited, when a
   * background child still holds them open.
   * @default 200
   */
  drainMs?: number;
}

/** Sends `signal` to a whole process group, ignoring one that is already gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group has no process left.
  }
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13 };

/** The shell's convention for a process killed by a signal: 128 + its number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 1) : 1);
}

/**
 * Runs commands as child processes on this machine: argv (no shell), cwd = the workspace (or
 * the workdir inside it), each in its own process group so that abort kills the whole tree.
 */
export function createLocalExecutor(options: LocalExecutorOptions = {}): Executor {
  const killGraceMs = options.killGraceMs ?? 2000;
  const drainMs = options.drainMs ?? 200;
  const live = new Set<number>();

  const run = (request: ExecRequest): Promise<ExecOutcome> =>
    new Promise((resolve) => {
      const [file, ...args] = request.argv;
      const child = spawn(file!, args, {
        cwd: path.resolve(request.target.workspace, request.workdir),
        env: { ...process.env, ...request.env },
        detached: true, // its own process group (setsid), so the group can be signalled
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let aborted = false;
      let settled = false;
      let killTimer: NodeJS.Timeout | undefined;
      const pgid = child.pid;
      if (pgid !== undefined) live.add(pgid);

      const finish = (outcome: ExecOutcome): void => {
        if (settled) return;
        settled = true;
        request.signal.removeEventListener('abort', onAbort);
        if (pgid !== undefined) {
          // Whatever the command left running in its group goes with it.
          killGroup(pgid, 'SIGKILL');
          live.delete(pgid);
        }
        clearTimeout(killTimer);
        resolve(outcome);
      };
      const onAbort = (): void => {
        aborted = true;
        if (pgid === undefined) return;
        killGroup(pgid, 'SIGTERM');
        killTimer = setTimeout(() => killGroup(pgid, 'SIGKILL'), killGraceMs);
      };

      child.stdout.on('data', (b: Buffer) => request.onOutput('STDOUT', b));
      child.stderr.on('data', (b: Buffer) => request.onOutput('STDERR', b));
      child.stdin.on('error', () => {}); // EPIPE when the command does not read its stdin
      child.stdin.end(request.stdin ?? undefined);

      child.on('error', (err: NodeJS.ErrnoException) => {
        const missing = err.code === 'ENOENT';
        const text = missing ? `command not found: ${file}\n` : `cannot start ${file}: ${err.message}\n`;
        request.onOutput('STDERR', Buffer.from(text));
        finish({ type: 'exited', exitCode: missing ? 127 : 126 });
      });
      let exitOutcome: ExecOutcome | undefined;
      child.on('exit', (code, sig) => {
        exitOutcome = aborted ? { type: 'aborted' } : { type: 'exited', exitCode: exitCodeOf(code, sig) };
        // 'close' follows once the pipes have drained; a background child holding them open gets `drainMs`.
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          if (exitOutcome) finish(exitOutcome);
        }, drainMs).unref();
      });
      child.on('close', () => {
        if (exitOutcome) finish(exitOutcome);
      });

      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
    });

  return {
    run,
    async close() {
      for (const pgid of live) killGroup(pgid, 'SIGKILL');
      live.clear();
    },
  };
}
