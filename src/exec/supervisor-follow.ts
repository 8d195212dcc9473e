/**
 * Reading a supervised command's spool (see `supervisor.ts` for its files and lifecycle): the argv
 * of the scripts that tell where the command stands ({@link stateArgv}), follow its output from
 * byte offsets ({@link followArgv}) and look again after a follow that did not end finally
 * ({@link checkArgv}), with the pure functions that parse what they print and decide what it means.
 * Pure and unit-tested; both executors send these, as they send the start scripts.
 */
import type { Offsets } from './executor.js';

/**
 * Shell function `alive <pid>`: the process exists and is not a zombie (an init that does not
 * reap, as in many containers, leaves a dead supervisor as one, and `kill -0` succeeds on it).
 * Without a /proc it falls back to `kill -0`.
 */
const ALIVE_FN =
  'alive() { [ -n "$1" ] || return 1; if [ -d /proc/self ]; then { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1; ' +
  'st=${st##*") "}; case $st in Z*|X*) return 1 ;; esac; return 0; fi; kill -0 "$1" 2>/dev/null; }; ';

/** Shell function `state`: prints the state of spool `$s` as {@link stateArgv} documents it. */
const STATE_FN =
  ALIVE_FN +
  'state() { ' +
  '[ -d "$s" ] || { echo missing; return; }; ' +
  '[ -s "$s/exit" ] && { echo "exit $(cat "$s/exit")"; return; }; ' +
  'p=$(cat "$s/supervisor" 2>/dev/null); ' +
  'alive "$p" && { echo running; return; }; ' +
  // It may have written the record between the two looks.
  '[ -s "$s/exit" ] && { echo "exit $(cat "$s/exit")"; return; }; ' +
  '[ -z "$p" ] && { echo running; return; }; ' +
  'echo dead; }; ';

/**
 * The argv that tells a reader where a command stands, one word on stdout:
 * `exit <code>` (the record exists), `running` (the supervisor is alive, or has not written its
 * pid yet), `dead` (the spool exists, no exit record, no supervisor (a zombie counts as none): it
 * died, e.g. an OOM kill) or `missing` (no spool).
 */
export function stateArgv(spool: string): string[] {
  return ['sh', '-c', `s=$1; ${STATE_FN}state`, 'rdev-state', spool];
}

/** A command's state as {@link stateArgv} prints it. */
export type SupervisedState = { type: 'exit'; exitCode: number } | { type: 'running' } | { type: 'dead' } | { type: 'missing' };

/** Parses what {@link stateArgv} printed; undefined for anything else. */
export function parseState(stdout: string): SupervisedState | undefined {
  const line = stdout.trim();
  const exit = /^exit (\d{1,3})$/.exec(line);
  if (exit) return { type: 'exit', exitCode: Number(exit[1]) };
  if (line === 'running' || line === 'dead' || line === 'missing') return { type: line };
  return undefined;
}

/** The reason a command is LOST, by what its spool showed. */
export function lostReason(state: 'dead' | 'missing', spool: string): string {
  return state === 'dead'
    ? `the supervisor died without an exit record (killed, e.g. out of memory, or the machine restarted); its spool is ${spool}`
    : `its spool ${spool} is gone (the workspace's /tmp was wiped or the pod was replaced)`;
}

/**
 * The argv that follows a command's output from byte offsets: the spool's `stdout` from byte
 * `offsets.stdout` on to its own stdout, `stderr` from `offsets.stderr` to its stderr, each byte
 * once, until the command has ended and both files are read to their end. How it ended is its
 * exit status:
 *
 * - the recorded exit code, once the exit record exists and both files were read to their end;
 * - 255 when it cannot say so (no spool, no exit record when the supervisor is gone, a reader
 *   that failed). 255 is also a real exit code, and any status of 128 or more may be the
 *   follower's own death by a signal (a deleted pod): read such an end with {@link checkArgv}
 *   and {@link followVerdict}; below 128 it is final ({@link isFinalFollowExit}).
 *
 * How: with an exit record already there, it prints the rest of both files (`tail -c +N`) and
 * exits. Otherwise a watcher polls (5 ms for the first 100 ms, then 20 ms, after 1 s 100 ms, after
 * 10 s 500 ms: a short command's end is seen soon, a long one costs a fork a second or two) until
 * the exit record exists or the supervisor is gone (a zombie counts as gone), and one GNU
 * `tail -c +N -F --pid=<watcher> -s 0.01` per file streams as the file grows (inotify); once the
 * watcher has exited (and is reaped, so that `kill -0` fails) each tail reads what remains and
 * exits. The tails' 10 ms is how often they look for the watcher (a `kill -0`, no fork), so it is
 * at most that after the watcher that the follow ends. The watcher, not the supervisor, is the `--pid`: a dead supervisor nobody reaps stays a
 * zombie, which `kill -0` (and so `tail --pid`) takes for alive.
 *
 * Its stdin must stay open while it runs: at end-of-file on stdin (the exec connection went
 * away) it stops, so that followers of cut connections do not pile up in the pod.
 */
export function followArgv(spool: string, offsets: Offsets): string[] {
  for (const n of [offsets.stdout, offsets.stderr]) {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`invalid offset: ${n}`);
  }
  const script =
    // fd 4 is the command's stderr stream; the shell's own fd 2 (its messages, "Terminated"...) goes nowhere.
    's=$1; o=$2; e=$3; exec 4>&2 2>/dev/null; ' +
    '[ -d "$s" ] || exit 255; ' +
    'code() { { read -r x <"$s/exit"; } 2>/dev/null; case $x in ""|*[!0-9]*) exit 255 ;; esac; exit "$x"; }; ' +
    // Finished already: the files are complete.
    'if [ -e "$s/exit" ]; then ' +
    'tail -c +$((o+1)) "$s/stdout" && tail -c +$((e+1)) "$s/stderr" >&4 || exit 255; code; fi; ' +
    ALIVE_FN +
    // The supervisor's pid (a start still in progress may not have written it: up to ~2 s).
    'p=; i=0; while :; do { read -r p <"$s/supervisor"; } 2>/dev/null; ' +
    '[ -n "$p" ] || [ -e "$s/exit" ] || [ $i -ge 100 ] && break; sleep 0.02; i=$((i+1)); done; ' +
    '( i=0; while [ ! -e "$s/exit" ] && alive "$p"; do ' +
    'if [ $i -lt 20 ]; then sleep 0.005; elif [ $i -lt 65 ]; then sleep 0.02; elif [ $i -lt 165 ]; then sleep 0.1; else sleep 0.5; fi; i=$((i+1)); done ' +
    ') </dev/null >/dev/null 4>&- & w=$!; ' +
    // Background jobs get /dev/null as stdin: keep the real one on fd 3 for the stdin watcher.
    'exec 3<&0; ' +
    'tail -c +$((o+1)) -F --pid=$w -s 0.01 "$s/stdout" 3<&- 4>&- & a=$!; ' +
    'tail -c +$((e+1)) -F --pid=$w -s 0.01 "$s/stderr" >&4 3<&- 4>&- & b=$!; ' +
    '( while read -r _ <&3; do :; done; kill $a $b $w ) >/dev/null 4>&- & r=$!; ' +
    'exec 3<&- 4>&-; ' +
    // Reaping the watcher is what lets the tails see it gone.
    'wait $w; wait $a; ra=$?; wait $b; rb=$?; kill $r; ' +
    '[ $ra -eq 0 ] && [ $rb -eq 0 ] || exit 255; code';
  return ['sh', '-c', script, 'rdev-follow', spool, String(offsets.stdout), String(offsets.stderr)];
}

/** True when a {@link followArgv} exit status is the command's exit code without a second look. */
export function isFinalFollowExit(status: number): boolean {
  return status >= 0 && status < 128;
}

/**
 * The argv that tells where a command stands and how long its files are: the {@link stateArgv}
 * line, then `<stdout bytes> <stderr bytes>` (looked at after the state, so with an exit record
 * they are final). After a follow whose end is not final, this tells a real exit 255 (or 137...)
 * from a follower that ended early.
 */
export function checkArgv(spool: string): string[] {
  const script =
    `s=$1; ${STATE_FN}state; ` + 'size() { n=$(wc -c 2>/dev/null <"$1") && echo $n || echo -; }; ' + 'echo "$(size "$s/stdout") $(size "$s/stderr")"';
  return ['sh', '-c', script, 'rdev-check', spool];
}

/** What {@link checkArgv} printed. */
export interface CheckResult {
  state: SupervisedState;
  /** Sizes of the spool's files; undefined when they could not be read. */
  sizes?: Offsets | undefined;
}

/** Parses what {@link checkArgv} printed; undefined when the state line is not one. */
export function parseCheck(stdout: string): CheckResult | undefined {
  const [first = '', second = ''] = stdout.split('\n');
  const state = parseState(first);
  if (!state) return undefined;
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(second);
  return m ? { state, sizes: { stdout: Number(m[1]), stderr: Number(m[2]) } } : { state };
}

/** What to make of a follow that did not end finally ({@link isFinalFollowExit}), given a {@link checkArgv}. */
export type FollowVerdict =
  /** The record exists and every byte was delivered. */
  | { type: 'exited'; exitCode: number }
  /** The record exists but bytes remain: follow again from the delivered offsets. */
  | { type: 'again' }
  /** The supervisor still runs: the follower itself ended (killed, a reader failed). */
  | { type: 'running' }
  | { type: 'lost'; reason: string };

/** Decides what a non-final follow end means from the state and sizes of the spool and the bytes delivered so far. */
export function followVerdict(check: CheckResult, delivered: Offsets, spool: string): FollowVerdict {
  const { state, sizes } = check;
  switch (state.type) {
    case 'exit':
      return sizes && sizes.stdout === delivered.stdout && sizes.stderr === delivered.stderr ? { type: 'exited', exitCode: state.exitCode } : { type: 'again' };
    case 'running':
      return { type: 'running' };
    case 'dead':
    case 'missing':
      return { type: 'lost', reason: lostReason(state.type, spool) };
  }
}
