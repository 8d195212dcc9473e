/**
 * The argv the Kubernetes executor sends to `pods/exec`. Pure and unit-tested.
 *
 * There is no signal API in `pods/exec`, and a process outlives its closed exec socket
 * (kubernetes/kubernetes#73056), so cancel works by a second exec that signals the command's
 * process group. For that the command starts in a fresh session whose id is written to a pid file:
 *
 *     setsid -w sh -c '<wrapper>' sh /tmp/rdev-<token>.pgid <workspace> <dir> <argv...>
 *
 * - `setsid` makes a new session (and process group) for `sh`. In a real pod every exec is
 *   already a session leader (runc calls setsid()), so util-linux `setsid` forks; `-w` makes the
 *   exec's main process wait for that child and exit with its status.
 * - The wrapper writes `$$` (the new group's id) to the pid file, `cd`s into the workdir (which
 *   must stay inside the workspace once symlinks are followed: only the pod can check that) and
 *   runs the argv as a child, not with `exec`: it stays to turn a signal death into 128+n and to
 *   remove the pid file when the command ends by itself.
 * - `trap 'exit 143' TERM` lets the wrapper exit normally after its child dies of the group's
 *   SIGTERM, so `setsid -w` does not print "child did not exit normally".
 */

/** Where the pid file of the command with this token lives in the pod. */
export function pidFileFor(token: string): string {
  return `/tmp/rdev-${token}.pgid`;
}

/** What {@link execArgv} needs. */
export interface ExecArgvOptions {
  pidFile: string;
  /** Absolute workspace in the pod: the directory, symlinks followed, must stay inside it. */
  workspace: string;
  /** Absolute directory in the pod to run in. */
  dir: string;
  argv: readonly string[];
  /** Exported by the wrapper before it runs argv. */
  env?: Record<string, string> | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The argv of the command's exec. The wrapper's own failures (no writable pid file, a directory
 * it cannot enter or that leads outside the workspace through a symlink) exit 125 with an
 * `rdev: ...` line on stderr. Throws on an environment variable name a shell cannot export.
 */
export function execArgv(o: ExecArgvOptions): string[] {
  if (o.argv.length === 0) throw new Error('argv is empty');
  const exports = Object.entries(o.env ?? {}).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
    return `export ${k}=${shellQuote(v)}; `;
  });
  const wrapper =
    'f=$1; w=$2; d=$3; shift 3; ' +
    'fail() { rm -f "$f"; echo "rdev: $1" >&2; exit 125; }; ' +
    'echo $$ 2>/dev/null >"$f" || fail "cannot write $f: cancelling needs a writable /tmp"; ' +
    "trap 'exit 143' TERM; " +
    'cd "$d" 2>/dev/null || fail "cannot enter $d"; ' +
    'r=$(cd "$w" && pwd -P) || fail "cannot enter the workspace $w"; ' +
    'case "$(pwd -P)/" in "$r"/*) ;; *) fail "$d leads outside the workspace $w" ;; esac; ' +
    exports.join('') +
    '"$@"; rc=$?; rm -f "$f"; exit $rc';
  return ['setsid', '-w', 'sh', '-c', wrapper, 'sh', o.pidFile, o.workspace, o.dir, ...o.argv];
}

/**
 * The argv of the exec that sends SIGTERM to the command's group. It waits up to ~1 s for the
 * pid file (an abort may come before the wrapper wrote it), prints the group id on stdout (so the
 * later SIGKILL needs no file) and exits 0 whatever it found.
 */
export function termArgv(pidFile: string): string[] {
  const script =
    'f=$1; i=0; ' +
    'while [ ! -s "$f" ] && [ $i -lt 50 ]; do sleep 0.02; i=$((i+1)); done; ' +
    '[ -s "$f" ] || exit 0; pg=$(cat "$f"); echo "$pg"; ' +
    'kill -s TERM -- "-$pg" 2>/dev/null; exit 0';
  return ['sh', '-c', script, 'rdev-term', pidFile];
}

/** The argv of the exec that sends SIGKILL to group `pgid` and removes the pid file. */
export function killArgv(pgid: number, pidFile: string): string[] {
  return ['sh', '-c', 'kill -s KILL -- "-$1" 2>/dev/null; rm -f "$2"; exit 0', 'rdev-kill', String(pgid), pidFile];
}

/** The group id printed by the {@link termArgv} exec, or undefined when it found no pid file. */
export function parsePgid(stdout: string): number | undefined {
  const m = /^\s*(\d+)\s*$/.exec(stdout);
  const n = m ? Number(m[1]) : NaN;
  // 0 and 1 would signal our own group or every process: never.
  return Number.isSafeInteger(n) && n > 1 ? n : undefined;
}
