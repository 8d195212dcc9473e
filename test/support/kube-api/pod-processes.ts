/**
 * Running commands "in" a test pod: a real process whose `/workspace` is the pod's directory,
 * and finding or killing every process a pod started (descendants included).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The environment variable naming a pod (`<namespace>/<name>`) in every process started in it. */
export const POD_MARKER = 'KUBE_TEST_POD';
/** The environment variable carrying the pod's uid; unique, so this is what livePids scans for. */
export const POD_UID_MARKER = 'KUBE_TEST_POD_UID';

/** How the host runs a pod's commands, found once per process by {@link podSandbox}. */
export interface PodSandbox {
  /** True: each exec gets a private mount namespace with the pod dir bind-mounted on /workspace. */
  mountsWorkspace: boolean;
  sh: string;
  unshare?: string;
  mount?: string;
}

let sandbox: PodSandbox | undefined;

/**
 * Probes once per process whether a private mount namespace with a bind mount on /workspace
 * works (root, `unshare`, `mount`); creates the host's empty `/workspace` mount point if missing.
 */
export function podSandbox(): PodSandbox {
  if (sandbox) return sandbox;
  const sh = which('sh') ?? '/bin/sh';
  const unshare = which('unshare');
  const mount = which('mount');
  let mountsWorkspace = false;
  if (unshare && mount && process.getuid?.() === 0) {
    const probe = mkdtempSync(join(tmpdir(), 'kube-api-probe-'));
    try {
      mkdirSync('/workspace', { recursive: true });
      const r = spawnSync(unshare, ['--mount', '--propagation', 'private', '--', sh, '-c', `${quote(mount)} --bind "$0" /workspace`, probe], {
        stdio: 'ignore',
        timeout: 10_000,
      });
      mountsWorkspace = r.status === 0;
    } catch {
      mountsWorkspace = false;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  }
  sandbox = mountsWorkspace ? { mountsWorkspace, sh, unshare, mount } : { mountsWorkspace, sh };
  return sandbox;
}

/** What to run in a pod. */
export interface PodCommand {
  argv: readonly string[];
  /** Host directory seen as /workspace. */
  workspaceDir: string;
  env: NodeJS.ProcessEnv;
  stdin: boolean;
}

// $1 is the pod dir; the rest is the command. Look the command up first so that a missing one
// fails with 127 and an OCI-runtime-like message instead of sh's own.
const LOOKUP_AND_EXEC =
  'shift; command -v "$1" >/dev/null 2>&1 || ' + `{ printf 'exec: "%s": executable file not found in $PATH\\n' "$1" >&2; exit 127; }; exec "$@"`;

/**
 * Starts the command as a session leader (`detached`, i.e. setsid, as runc does for an exec),
 * cwd /workspace. With the mount sandbox: `unshare --mount --propagation private -- sh -c
 * 'mount --bind <dir> /workspace && cd /workspace && exec argv'`; without it, cwd is the pod dir.
 */
export function spawnInPod(sb: PodSandbox, cmd: PodCommand): ChildProcess {
  const stdio = [cmd.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] as const;
  const options = { env: cmd.env, cwd: cmd.workspaceDir, detached: true, stdio: [...stdio] };
  if (sb.mountsWorkspace && sb.unshare && sb.mount) {
    const script = `${quote(sb.mount)} --bind "$1" /workspace && cd /workspace || exit 126; ${LOOKUP_AND_EXEC}`;
    return spawn(sb.unshare, ['--mount', '--propagation', 'private', '--', sb.sh, '-c', script, 'kube-exec', cmd.workspaceDir, ...cmd.argv], options);
  }
  const script = `cd "$1" || exit 126; ${LOOKUP_AND_EXEC}`;
  return spawn(sb.sh, ['-c', script, 'kube-exec', cmd.workspaceDir, ...cmd.argv], options);
}

/**
 * Pids of live processes whose environment carries `KUBE_TEST_POD_UID=<uid>` (zombies have an
 * empty environ and do not count). A process that scrubs its environment escapes this.
 */
export function podPids(uid: string): number[] {
  const needle = Buffer.from(`\0${POD_UID_MARKER}=${uid}\0`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${entry}/environ`), Buffer.from([0])]);
      if (environ.includes(needle)) pids.push(Number(entry));
    } catch {
      // gone already, or not ours to read
    }
  }
  return pids;
}

/** SIGKILLs every process of the pod, once (synchronous; safe in a process 'exit' handler). */
export function killPodPidsOnce(uid: string): number {
  const pids = podPids(uid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids.length;
}

// Pod uids whose processes must die if the test process exits without close() (one listener for all servers).
const exitKillUids = new Set<string>();
let exitHookInstalled = false;

/** Makes sure the pod's processes are SIGKILLed if this process exits first; returns the undo. */
export function killOnExit(uid: string): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const u of exitKillUids) killPodPidsOnce(u);
    });
  }
  exitKillUids.add(uid);
  return () => exitKillUids.delete(uid);
}

/** SIGKILLs the pod's processes until none is left (new children included), or throws at the deadline. */
export async function killPodProcesses(uid: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (killPodPidsOnce(uid) > 0) {
    if (Date.now() > deadline) throw new Error(`processes of pod ${uid} survived SIGKILL: ${podPids(uid).join(', ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const candidate = join(dir, cmd);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
