/**
 * The argv the Kubernetes executor sends to `pods/exec`. Pure and unit-tested.
 *
 * There is no signal API in `pods/exec`, and a process outlives its closed exec socket
 * (kubernetes/kubernetes#73056), so cancel works by a second exec that signals the command's
 * process group. For that the command starts in a fresh session whose id is written to a pid file:
 *
 *     setsid -w sh -c '<wrapper>' rdev-exec /tmp/rdev-<token>.pgid <dir> <argv...>
 *
 * - `setsid` makes a new session (and process group) for `sh`. In a real pod every exec is
 *   already a session leader (runc calls setsid()), so util-linux `setsid` forks; `-w` makes the
 *   exec's main process wait for that child and exit with its status.
 * - The wrapper writes `$$` (the new group's id) to the pid file, `cd`s into the workdir and
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

/** The argv of the command's exec. Throws on an environment variable name a shell cannot export. */
export function execArgv(o: ExecArgvOptions): string[] {
  if (o.argv.length === 0) throw new Error('argv is empty');
  const exports = Object.entries(o.env ?? {}).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
    return `export ${k}=${shellQuote(v)}; `;
  });
  const wrapper =
    'f=$1; d=$2; shift 2; ' +
    `echo $$ 2>/dev/null >"$f" || { echo "rdev: cannot write $f: cancelling needs a writable /tmp" >&2; exit 125; }; ` +
    "trap 'exit 143' TERM; " +
    exports.join('') +
    'cd "$d" || exit 1; ' +
    '"$@"; rc=$?; rm -f "$f"; exit $rc';
  return ['setsid', '-w', 'sh', '-c', wrapper, 'rdev-exec', o.pidFile, o.dir, ...o.argv];
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
