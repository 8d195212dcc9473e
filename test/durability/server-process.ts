import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';

/**
 * The real server (`src/server.ts`) as its own process, as `npm start` runs it (through tsx,
 * without the build), for tests that kill it, restart it, or read its memory and descriptors
 * from `/proc`.
 */

const root = path.resolve(import.meta.dirname, '../..');

/** Diagnostics kept from the server's stderr (its JSON log): the head and the last bytes. */
const KEEP_LOG_CHARS = 32 * 1024;

/** A running server process. */
export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string | null>;
  /** The start and the tail of what the server logged (bounded), for failure messages. */
  log(): string;
  /** SIGKILLs the process (if it still runs) and waits for it to be gone. */
  kill(): Promise<void>;
  /**
   * Forces full garbage collections in the server and returns its smallest V8 heap after them, through the
   * inspector (only with `inspect: true`; the session is closed again before this resolves).
   */
  heapAfterGc(): Promise<{ usedBytes: number; totalBytes: number }>;
}

/** Options of {@link startServer}. */
export interface StartServerOptions {
  /** Environment over the test process's; PORT defaults to 0 and RDEV_LOG_LEVEL to info. */
  env: Record<string, string>;
  /**
   * Starts the server with `--inspect=127.0.0.1:0`, for {@link ServerProcess.heapAfterGc}.
   * @default false
   */
  inspect?: boolean;
  /**
   * How long the process may take to log `listening` (tsx compiles on the way).
   * @default 90000 (tsx compiles first; a 2-core machine running other suites beside took over 30 s)
   */
  startTimeoutMs?: number;
  /**
   * Runs this compiled entry (`node <path>`) instead of `src/server.ts` through tsx: a smaller
   * process, whose children fork faster (fork copies the parent's page tables).
   */
  compiledEntry?: string;
  /** Node options before the entry (e.g. `--cpu-prof`: the profile is written when the process exits, not on SIGKILL). */
  nodeArgs?: string[];
}

/** Starts `node --import tsx src/server.ts`; resolves once it logged the port it listens on. */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const inspectArgs = options.inspect ? ['--inspect=127.0.0.1:0'] : [];
  const entry = options.compiledEntry ? [options.compiledEntry] : ['--import', 'tsx', 'src/server.ts'];
  const child = spawn(process.execPath, [...inspectArgs, ...(options.nodeArgs ?? []), ...entry], {
    cwd: root,
    env: { ...process.env, PORT: '0', RDEV_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let head = '';
  let tail = '';
  let pending = '';
  let port: number | undefined;
  let inspector: string | undefined;
  let onPort: (() => void) | undefined;
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    if (head.length < KEEP_LOG_CHARS) head += text.slice(0, KEEP_LOG_CHARS - head.length);
    tail = (tail + text).slice(-KEEP_LOG_CHARS);
    if (port !== undefined) return;
    pending += text;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      inspector ??= /^Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1];
      if (!line.includes('"listening"')) continue;
      port = (JSON.parse(line) as { port: number }).port;
      pending = '';
      onPort?.();
      return;
    }
  });
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const log = (): string => (head.length + tail.length <= KEEP_LOG_CHARS ? head : `${head}\n[…]\n${tail}`);
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not log "listening" within ${timeoutMs} ms:\n${log()}`)), timeoutMs);
      onPort = () => {
        clearTimeout(timer);
        resolve();
      };
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the server exited (${code}) before listening:\n${log()}`));
      });
      if (port !== undefined) onPort();
    });
  } catch (err) {
    await kill();
    throw err;
  }
  const heapAfterGc = async (): Promise<{ usedBytes: number; totalBytes: number }> => {
    if (!inspector) throw new Error('the server was not started with inspect: true');
    const session = await inspectorSession(inspector);
    try {
      // Three collections, the smallest heap seen: what one collection leaves for the next
      // (weak maps, finalizers, the last request's garbage) does not count as held.
      let least: { usedSize: number; totalSize: number } | undefined;
      for (let i = 0; i < 3; i++) {
        await session.call('HeapProfiler.collectGarbage');
        const heap = (await session.call('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
        if (!least || heap.usedSize < least.usedSize) least = heap;
      }
      return { usedBytes: least!.usedSize, totalBytes: least!.totalSize };
    } finally {
      await session.close();
    }
  };
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, child, exited, log, kill, heapAfterGc };
}

/** A Chrome DevTools Protocol session with a Node inspector (https://chromedevtools.github.io/devtools-protocol/v8/). */
async function inspectorSession(url: string): Promise<{ call(method: string, params?: object): Promise<unknown>; close(): Promise<void> }> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on('message', (raw) => {
    const msg = JSON.parse(String(raw)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!waiter) return;
    pending.delete(msg.id!);
    if (msg.error) waiter.reject(new Error(msg.error.message));
    else waiter.resolve(msg.result);
  });
  return {
    call: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () =>
      new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}

/** A live process found by {@link processesWith}. */
export interface FoundProcess {
  pid: number;
  pgid: number;
  args: string;
}

/** Processes whose command line contains `marker` (read from `/proc`; processes that vanish meanwhile are skipped). */
export function processesWith(marker: string): FoundProcess[] {
  const found: FoundProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (!args.includes(marker) || Number(entry) === process.pid) continue;
      // Field 5 of /proc/<pid>/stat is the process group; the command name (field 2) may hold spaces, so count after its ")".
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue; // a zombie holds no resources; its parent reaps it
      found.push({ pid: Number(entry), pgid: Number(fields[2]), args });
    } catch {
      // gone between readdir and read
    }
  }
  return found;
}

/** SIGKILLs the process groups of every process whose command line holds `marker`; returns the groups signalled. */
export function killGroupsWith(marker: string): number[] {
  const groups = [...new Set(processesWith(marker).map((p) => p.pgid))];
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return groups;
}

/** Resident set size of a process in KiB (`VmRSS` of `/proc/<pid>/status`). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Open file descriptors of a process, by kind (`socket`, `pipe`, `anon_inode:[eventfd]`, a file path…). */
export function openFds(pid: number): { total: number; byKind: Record<string, number> } {
  const byKind: Record<string, number> = {};
  let total = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const kind = /^(socket|pipe):/.test(target) ? target.slice(0, target.indexOf(':')) : target.startsWith('/') ? 'file' : target;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    total++;
  }
  return { total, byKind };
}

/** Polls `probe` until `holds` is true of its value; throws at the deadline with the last value. */
export async function pollUntil<T>(what: string, probe: () => T | Promise<T>, holds: (value: T) => boolean, timeoutMs: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (holds(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A seeded PRNG (mulberry32): the same seed gives the same sequence, so a failing run can be
 * repeated exactly by setting the seed it printed.
 */
export function prng(seed: number): { next(): number; int(min: number, max: number): number } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

/** CPU time a process has used so far, user + system, in seconds (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
