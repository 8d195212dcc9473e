import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AttachOutcome, AttachRequest, Executor, StartRequest, Started, SupervisedRef } from './executor.js';
import { exists, follow, readText } from './local-follow.js';
import { parsePgid, spoolDirOf, startArgv } from './supervisor.js';

/** Options of the local executor. */
export interface LocalExecutorOptions {
  /** Directory holding one spool directory per command (`RDEV_SPOOL_DIR`); created on demand. */
  spoolDir: string;
  /**
   * How soon an attach looks at the spool again when no change notification came (a fallback:
   * `fs.watch` wakes it at once on every write and on the exit record). While nothing changes the
   * pause doubles up to `maxPollMs`; any output brings it back.
   * @default 20
   */
  pollMs?: number;
  /**
   * The longest pause between two looks of an idle attach.
   * @default 250
   */
  maxPollMs?: number;
  /**
   * How long `signal` waits for a command's process group to be recorded (a cancel right after a start).
   * @default 2000
   */
  pgidWaitMs?: number;
  /**
   * What each spool file keeps on disk, in bytes (`RDEV_MAX_OUTPUT_BYTES`): the blocks past it
   * are freed while the command runs (`StartArgvOptions.maxSpoolBytes`). Undefined or 0: no bound.
   */
  maxSpoolBytes?: number | undefined;
  /**
   * Variables of this process's environment that every command gets besides {@link
   * BASE_COMMAND_ENV} (`RDEV_COMMAND_ENV`); the rest of it (tokens file paths, `RDEV_*`, whatever
   * the operator exported) stays with the server. Read once, when the executor is made.
   * @default []
   */
  envNames?: readonly string[] | undefined;
}

/** The variables of the server's environment that every command gets (what a shell needs to find programs and speak the locale). */
export const BASE_COMMAND_ENV: readonly string[] = ['PATH', 'HOME', 'LANG', 'TERM'];

/**
 * Runs supervised commands on this machine: one `sh` spawn starts the supervisor
 * (`supervisor.ts`) in a session of its own, so a command outlives the server; an attach reads
 * the spool files from byte offsets, woken by `fs.watch` with a poll as a fallback (`local-follow.ts`).
 */
export function createLocalExecutor(options: LocalExecutorOptions): Executor {
  const pollMs = options.pollMs ?? 20;
  const maxPollMs = Math.max(pollMs, options.maxPollMs ?? 250);
  const pgidWaitMs = options.pgidWaitMs ?? 2000;
  const spoolOf = (ref: SupervisedRef): string => spoolDirOf(options.spoolDir, ref.commandId);
  const env = commandEnvironment([...BASE_COMMAND_ENV, ...(options.envNames ?? [])]);
  // Aborted by close(): open attaches detach, signal() stops waiting for a group.
  const closing = new AbortController();
  const attaches = new Set<Promise<AttachOutcome>>();

  const start = async (request: StartRequest): Promise<Started> => {
    if (closing.signal.aborted) throw new Error('the executor is closed');
    const spool = spoolOf(request);
    const workspace = request.target.workspace;
    const [file, ...args] = startArgv({
      spool,
      workspace,
      dir: path.resolve(workspace, request.workdir),
      argv: request.argv,
      env: request.env,
      stdin: request.stdin !== undefined,
      maxSpoolBytes: options.maxSpoolBytes,
    });
    const { code, stdout, stderr } = await runStartScript(file!, args, workspace, env, request.stdin);
    if (code !== 0) throw new Error(stderr.trim() || `the start script exited with ${code}`);
    const pgid = parsePgid(stdout);
    if (pgid !== undefined) return { pgid };
    // Refused inside the workspace: the script recorded exit 125 and printed nothing.
    if (await exists(`${spool}/exit`)) return { pgid: null };
    throw new Error(`the start script printed no process group and recorded no exit (stdout ${JSON.stringify(stdout)})`);
  };

  const attach = (request: AttachRequest): Promise<AttachOutcome> => {
    let spool: string;
    try {
      spool = spoolOf(request);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    request.signal.addEventListener('abort', onAbort, { once: true });
    closing.signal.addEventListener('abort', onAbort, { once: true });
    if (request.signal.aborted || closing.signal.aborted) stop.abort();
    const done = follow(spool, request, stop.signal, pollMs, maxPollMs).finally(() => {
      request.signal.removeEventListener('abort', onAbort);
      closing.signal.removeEventListener('abort', onAbort);
      attaches.delete(done);
    });
    attaches.add(done);
    return done;
  };

  const signal = async (ref: SupervisedRef, sig: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const spool = spoolOf(ref);
    const deadline = Date.now() + pgidWaitMs;
    let pgid: number | undefined;
    for (;;) {
      // A finished command's group is gone and its id may belong to someone else by now.
      if (await exists(`${spool}/exit`)) return;
      pgid = parsePgid((await readText(`${spool}/pgid`)) ?? '');
      if (pgid !== undefined || Date.now() >= deadline) break;
      try {
        await sleep(pollMs, undefined, { signal: closing.signal });
      } catch {
        return; // closed
      }
    }
    if (pgid === undefined) return;
    try {
      process.kill(-pgid, sig);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  };

  return {
    start,
    attach,
    signal,
    async remove(ref) {
      await rm(spoolOf(ref), { recursive: true, force: true });
    },
    async close() {
      closing.abort();
      await Promise.allSettled([...attaches]);
    },
  };
}

/** The named variables of this process's environment (those it has). */
function commandEnvironment(names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** Runs the start script to its end, with `env` as its whole environment (the command inherits it): its stdin is the command's, its stdout the group id. */
function runStartScript(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  stdin: string | Uint8Array | undefined,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    // Not unref'd: we wait for this short script's exit, which an unref'd child may never report. The
    // supervisor it launches is no child of ours (its own session, stdio on /dev/null): nothing here holds it.
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {}); // EPIPE when the script failed before reading its stdin
    child.stdin.end(stdin ?? undefined);
    child.on('error', (e) => reject(new Error(`cannot start the supervisor in ${cwd}: ${e.message}`)));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
  });
}
