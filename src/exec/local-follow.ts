/**
 * The local executor's attach: follows a command's spool files on this machine from byte offsets,
 * woken by `fs.watch` with a poll as a fallback, until the exit record, the command's loss (its
 * supervisor died, its spool went away) or the attach's stop. Used by `local.ts`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import type { AttachOutcome, AttachRequest } from './executor.js';
import { parsePgid } from './supervisor.js';
import { lostReason } from './supervisor-follow.js';

/** The most an attach reads from one stream at a time. */
const CHUNK_BYTES = 1024 * 1024;
/** How often an idle attach checks that the supervisor still runs. */
const SUPERVISOR_LOOK_MS = 200;

/** One spool file read from an offset. */
interface StreamReader {
  name: 'STDOUT' | 'STDERR';
  file: string;
  position: number;
  handle?: FileHandle;
}

/** Follows one spool until its exit record, its loss, or `stop`. Releases every handle, watcher and timer before settling. */
export async function follow(spool: string, request: AttachRequest, stop: AbortSignal, pollMs: number, maxPollMs: number): Promise<AttachOutcome> {
  const readers: StreamReader[] = [
    { name: 'STDOUT', file: `${spool}/stdout`, position: request.offsets.stdout },
    { name: 'STDERR', file: `${spool}/stderr`, position: request.offsets.stderr },
  ];
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  let idleMs = pollMs;
  let nextLook = 0;
  let waiter: (() => void) | undefined;
  const wake = (): void => {
    dirty = true;
    waiter?.();
  };
  stop.addEventListener('abort', wake, { once: true });

  /** Reads one chunk of a stream if there is one; false when it is at its end for now. */
  const readChunk = async (r: StreamReader): Promise<boolean> => {
    if (!r.handle) {
      try {
        r.handle = await open(r.file, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
      if (stop.aborted) return false;
    }
    const { size } = await r.handle.stat();
    if (size <= r.position || stop.aborted) return false;
    const buffer = Buffer.allocUnsafe(Math.min(size - r.position, CHUNK_BYTES));
    const { bytesRead } = await r.handle.read(buffer, 0, buffer.length, r.position);
    if (bytesRead === 0 || stop.aborted) return false;
    r.position += bytesRead;
    request.onOutput(r.name, buffer.subarray(0, bytesRead));
    return true;
  };
  /** Delivers everything both streams hold right now, a chunk of each in turn; whether there was any. */
  const drain = async (): Promise<boolean> => {
    let any = false;
    let more = true;
    while (more && !stop.aborted) {
      const a = await readChunk(readers[0]!);
      const b = await readChunk(readers[1]!);
      more = a || b;
      any ||= more;
    }
    return any;
  };
  const pause = (): Promise<void> =>
    new Promise((resolve) => {
      if (dirty || stop.aborted) return resolve();
      waiter = () => {
        clearTimeout(timer);
        waiter = undefined;
        resolve();
      };
      timer = setTimeout(waiter, idleMs);
    });
  const finish = async (exit: string): Promise<AttachOutcome> => {
    await drain();
    if (stop.aborted) return { type: 'detached' };
    const exitCode = Number(exit.trim());
    return Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255
      ? { type: 'exited', exitCode }
      : { type: 'lost', reason: `its exit record ${spool}/exit is unreadable: ${JSON.stringify(exit)}` };
  };

  try {
    if (stop.aborted) return { type: 'detached' };
    try {
      watcher = watch(spool, { persistent: false }, wake);
      watcher.on('error', wake); // the directory went away: the next look says so
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { type: 'lost', reason: lostReason('missing', spool) };
      // No notifications (e.g. out of inotify watches): the poll alone finds everything, later.
    }
    for (;;) {
      const woken = dirty;
      dirty = false;
      idleMs = (await drain()) || woken ? pollMs : Math.min(idleMs * 2, maxPollMs);
      if (stop.aborted) return { type: 'detached' };
      // A stat while idle (cheap); the record is read once it is there.
      let exit = (await exists(`${spool}/exit`)) ? await readText(`${spool}/exit`) : undefined;
      if (exit !== undefined) return await finish(exit);
      // Whether the supervisor still runs matters only for a loss: looked at a few times a second.
      let supervisor: 'alive' | 'dead' | 'missing' = 'alive';
      if (Date.now() >= nextLook) {
        supervisor = await supervisorState(spool);
        nextLook = Date.now() + SUPERVISOR_LOOK_MS;
      }
      if (supervisor !== 'alive') {
        // It may have written the record between the two looks.
        exit = await readText(`${spool}/exit`);
        if (exit !== undefined) return await finish(exit);
        if (supervisor === 'missing') return { type: 'lost', reason: lostReason('missing', spool) };
        await drain();
        if (stop.aborted) return { type: 'detached' };
        return { type: 'lost', reason: lostReason('dead', spool) };
      }
      await pause();
    }
  } finally {
    stop.removeEventListener('abort', wake);
    clearTimeout(timer);
    watcher?.close();
    await Promise.allSettled(readers.map((r) => r.handle?.close()));
  }
}

/**
 * Whether a spool's supervisor runs: `alive` also while it has not written its pid yet. A zombie
 * counts as dead (an init that does not reap leaves the killed supervisor one), and so does a pid
 * that now belongs to another program (read from `/proc` where there is one).
 */
async function supervisorState(spool: string): Promise<'alive' | 'dead' | 'missing'> {
  const text = await readText(`${spool}/supervisor`);
  if (text === undefined && !(await exists(spool))) return 'missing';
  const pid = parsePgid(text ?? '');
  if (pid === undefined) return 'alive'; // not written yet (or being written)
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.split('\0').includes('rdev-supervise') ? 'alive' : 'dead';
  } catch {
    return 'alive'; // no /proc here: kill(0) is all we know
  }
}

/** A small file's text; undefined when it does not exist. */
export async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether `stat` finds `file` (any error counts as no). */
export async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}
