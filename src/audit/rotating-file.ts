import { mkdirSync } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Options of {@link createRotatingFile}. */
export interface RotatingFileOptions {
  /** Once a line would take the file past this many bytes, the file is rotated first (0: never). */
  maxBytes: number;
  /**
   * Rotated files kept: `<file>.1` (the newest) to `<file>.<keepFiles>`; older ones are deleted.
   * @default 3
   */
  keepFiles?: number | undefined;
  /** A write or a rotation failed: the lines of that write are lost, later ones are tried again. */
  onError?: ((err: Error) => void) | undefined;
}

/** A file of lines appended without blocking the event loop, rotated by size. */
export interface RotatingFile {
  /** Queues one line (a newline is added) and returns at once; lines reach the file in the order given. */
  append(line: string): void;
  /** Resolves once every line appended so far has been written (or has failed). */
  flushed(): Promise<void>;
  /** Writes what is queued and closes the file; lines appended afterwards are dropped. */
  close(): Promise<void>;
}

/**
 * Appends lines to `file` from a queue: one write at a time, all that queued meanwhile in one go,
 * through a file handle held open; the size is known from the open, so rotation needs no stat per
 * line. Rotating renames `<file>.<n>` to `<file>.<n+1>` (the last one is overwritten), `<file>`
 * to `<file>.1`, and opens a new `<file>`. A single line larger than `maxBytes` gets a file of its own.
 */
export function createRotatingFile(file: string, options: RotatingFileOptions): RotatingFile {
  const keepFiles = Math.max(1, options.keepFiles ?? 3);
  mkdirSync(path.dirname(file), { recursive: true });
  let queue: Buffer[] = [];
  let running: Promise<void> | undefined;
  let handle: FileHandle | undefined;
  let size = 0;
  let closed = false;

  const ensureOpen = async (): Promise<FileHandle> => {
    if (!handle) {
      handle = await open(file, 'a');
      size = (await handle.stat()).size;
    }
    return handle;
  };
  const rotate = async (): Promise<void> => {
    await handle?.close();
    handle = undefined;
    for (let n = keepFiles - 1; n >= 1; n--) await renameIfThere(`${file}.${n}`, `${file}.${n + 1}`);
    await renameIfThere(file, `${file}.1`);
  };
  const write = async (lines: Buffer[]): Promise<void> => {
    let group: Buffer[] = [];
    let groupBytes = 0;
    const flushGroup = async (): Promise<void> => {
      if (group.length === 0) return;
      const h = await ensureOpen();
      await h.write(group.length === 1 ? group[0]! : Buffer.concat(group, groupBytes));
      size += groupBytes;
      group = [];
      groupBytes = 0;
    };
    for (const line of lines) {
      await ensureOpen();
      if (options.maxBytes > 0 && size + groupBytes > 0 && size + groupBytes + line.length > options.maxBytes) {
        await flushGroup();
        await rotate();
        await ensureOpen();
      }
      group.push(line);
      groupBytes += line.length;
    }
    await flushGroup();
  };
  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const lines = queue;
      queue = [];
      try {
        await write(lines);
      } catch (err) {
        // Start again from a fresh open next time: the handle may be what failed.
        await handle?.close().catch(() => {});
        handle = undefined;
        options.onError?.(err as Error);
      }
    }
    running = undefined;
  };

  return {
    append(line) {
      if (closed) return;
      queue.push(Buffer.from(`${line}\n`));
      running ??= drain();
    },
    async flushed() {
      while (running) await running;
    },
    async close() {
      closed = true;
      while (running) await running;
      await handle?.close();
      handle = undefined;
    },
  };
}

async function renameIfThere(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
