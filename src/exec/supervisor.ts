/**
 * The supervisor every command runs under, and the argv of the small scripts that start, signal
 * and remove it. Pure and unit-tested; both executors send these (the local one to `spawn`, the
 * Kubernetes one to `pods/exec`), so a pod needs only POSIX `sh`, coreutils and `setsid` (and
 * util-linux's `fallocate` for the bound on the spool's disk use; without it the data stays), and
 * no copy of the supervisor in its image. The scripts that read a spool (state, follow, check)
 * and their parsers are in `supervisor-follow.ts`.
 *
 * A command's spool directory `<spool>` holds:
 *
 * | file         | written by                 | what                                                        |
 * |--------------|----------------------------|-------------------------------------------------------------|
 * | `stdin`      | the start script           | the command's stdin, all of it, before the command starts   |
 * | `stdout`     | the command                | its stdout, appended; past `maxSpoolBytes` a hole (see below) |
 * | `stderr`     | the command                | its stderr, appended; past `maxSpoolBytes` a hole (see below) |
 * | `supervisor` | the supervisor             | the supervisor's pid                                        |
 * | `pgid`       | the supervisor (one write) | the command's process group id                              |
 * | `started`    | the supervisor             | the start time, seconds since the epoch (just after `pgid`) |
 * | `exit`       | the supervisor (renamed)   | the exit status (128 + n for signal n), once the command's group is gone |
 *
 * Lifecycle: the start script (one exec / one spawn) creates the spool, copies its own stdin to
 * `stdin`, checks the workdir, and launches the supervisor with `setsid` in a session of its own,
 * detached from the exec. The supervisor starts the command with `setsid` too (its own session
 * and process group, so a signal to the group never reaches the supervisor), records the group,
 * waits for the command, SIGKILLs whatever the command left in its group, and only then writes
 * `exit` (temp file + rename: a reader sees a whole record or none). The command writes its
 * output straight to the files, so once it has exited and its group is gone both streams are
 * complete. When the start script fails (a workdir it cannot enter) it writes its `rdev: ...`
 * line to `stderr` and `125` to `exit` itself, so a reader sees the same as for any command.
 *
 * Disk use (`maxSpoolBytes`, `RDEV_MAX_OUTPUT_BYTES`): with a bound, the supervisor starts a
 * checker beside the command (`setsid`: a session and group of its own, so a signal to the
 * command's group neither kills it nor finds it keeping that group alive; its stdout is not the
 * start script's pipe, so the start returns as before). About once a second the checker takes
 * both files' sizes (one `stat`) and frees the disk blocks of each file past the bound, except
 * its last {@link SPOOL_TAIL_BYTES} (`fallocate --punch-hole`, only for a file that grew since).
 * The sizes, and so every offset, stay: the freed range reads back as zeros, and a reader drops
 * it anyway, since a byte at an offset of `maxSpoolBytes` or more in either file is past the cap,
 * which counts both streams together. The kept tail is what a reader still needs past the cap:
 * the end of the output, where a Claude run's `result` line is, which gives the run its status
 * (a reader that is behind, or the last punch right after a fast writer ended, would otherwise
 * read zeros there). Once the command's group is gone the supervisor kills the checker and its
 * group, reaps it, punches once more (a fast writer that ended between two checks) and only then
 * writes `exit`. A checker whose supervisor died (it is reparented) ends at its next check. A
 * filesystem without hole punching, or no `fallocate`, keeps the data. So each file holds on disk
 * at most `maxSpoolBytes` + {@link SPOOL_TAIL_BYTES} (plus a block on each side of the hole and
 * what was written since the last check).
 */
/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const COMMAND_ID = /^[A-Za-z0-9][A-Za-z0-9-]*$/;

/** The spool directory of a command. Throws on an id that is not safe as a directory name. */
export function spoolDirOf(spoolRoot: string, commandId: string): string {
  if (!COMMAND_ID.test(commandId)) throw new Error(`invalid command id: ${JSON.stringify(commandId)}`);
  return `${spoolRoot.replace(/\/+$/, '')}/${commandId}`;
}

/** The command's shell (`$1` the spool, the rest the argv): records its group, prints it, and becomes the command. */
const COMMAND_SHELL = 's=$1; shift; echo $$ >"$s/pgid"; echo $$; exec "$@" <"$s/stdin" >>"$s/stdout" 2>>"$s/stderr"';

/**
 * The supervisor: session leader of its own session, started detached by the start script.
 * `$1` is the spool, the rest the argv. It ignores no signal (an ignored signal would be ignored
 * by the command too): being in another session and group, it gets none of the command's.
 */
function supervisorScript(maxSpoolBytes: number): string {
  const bounded = maxSpoolBytes > 0;
  return (
    's=$1; shift; ' +
    'echo $$ >"$s/supervisor"; ' +
    // Not a group leader here (a background child of the supervisor), so setsid makes the new session
    // in place (-w only matters if it had to fork). The command's shell records its group from inside
    // it (so a signal to the group cannot miss it), prints it on the supervisor's stdout (the start
    // script's pipe), and becomes the command. One small write: a reader that sees the file non-empty sees all of it.
    `setsid -w sh -c ${shellQuote(COMMAND_SHELL)} rdev-run "$s" "$@" & c=$!; ` +
    // Closing our end of the pipe: the start script reads it to its end.
    'exec >/dev/null; date +%s >"$s/started"; ' +
    // The spool checker (after the exec above: it must not hold the start script's pipe). setsid:
    // a group of its own (neither the command's nor ours), so that one kill below ends it and its sleep.
    (bounded
      ? `m=${maxSpoolBytes}; t=${SPOOL_TAIL_BYTES}; ${PUNCH_FN}setsid sh -c ${shellQuote(SPOOL_CHECKER)} rdev-spool-check "$s" "$m" "$t" & k=$!; `
      : '') +
    'wait $c; rc=$?; ' +
    // What the command left running in its group goes with it. kill() returns before they are
    // dead (one may be inside a write), so wait (up to ~1 s) until no live process is in the group
    // (a zombie does not count: an init that does not reap would keep it forever); then the
    // streams are complete.
    'if kill -s KILL -- "-$c" 2>/dev/null; then ' +
    'left() { for f in /proc/[0-9]*/stat; do read -r l <"$f" 2>/dev/null || continue; l=${l##*") "}; set -- $l; ' +
    '[ "$3" = "$c" ] && [ "$1" != Z ] && [ "$1" != X ] && return 0; done; return 1; }; ' +
    'i=0; while left && [ $i -lt 100 ]; do sleep 0.01; i=$((i+1)); done; fi; ' +
    // The checker goes (reaped: nothing of it is left), then a last check of the final sizes. Its
    // pid first: it may not have made its group yet (a fast command), and once it is dead it
    // forks nothing more; then its group, for a sleep or stat it had running.
    (bounded ? 'kill -s KILL -- "$k" "-$k" 2>/dev/null; wait $k; punch; ' : '') +
    'echo $rc >"$s/exit.tmp" && mv "$s/exit.tmp" "$s/exit"'
  );
}

/**
 * What each spool file keeps past the bound, at its end (1 MiB): the last lines of the output stay
 * readable however far behind a reader is, so a Claude run's `result` line (a few KiB: the final
 * text and the usage) is read and the run gets its status. A last line longer than this may be
 * read back as zeros in part by a reader that is behind (a `result` line that long would then be
 * lost, and the run FAILED "without a result message"): what bounds the disk use must bound the tail.
 */
export const SPOOL_TAIL_BYTES = 1024 * 1024;

/**
 * Shell function `punch`: frees the disk blocks of the spool's `stdout` and `stderr` (spool `$s`)
 * from byte `$m` to `$t` bytes before the end, with one `stat` for both files and one `fallocate`
 * per file that grew past `$m + $t` since its last punch (`$po`, `$pe`). The apparent size stays
 * (a hole reads back as zeros, and every byte at an offset of `$m` or more is past the output cap
 * anyway); a failure (no `fallocate`, a filesystem without hole punching) keeps the data.
 */
const PUNCH_FN =
  'punch() { n=$(stat -c %s "$s/stdout" "$s/stderr" 2>/dev/null) || return 0; set -- $n; ' +
  '[ "$1" -gt $((m+t)) ] 2>/dev/null && [ "$1" != "$po" ] && ' +
  '{ po=$1; fallocate --punch-hole --offset "$m" --length $(($1-t-m)) "$s/stdout" 2>/dev/null; }; ' +
  '[ "$2" -gt $((m+t)) ] 2>/dev/null && [ "$2" != "$pe" ] && ' +
  '{ pe=$2; fallocate --punch-hole --offset "$m" --length $(($2-t-m)) "$s/stderr" 2>/dev/null; }; ' +
  'return 0; }; ';

/**
 * The spool checker: `$1` the spool, `$2` the bound, `$3` the tail kept. About once a second it punches the spool
 * (`punch`) until the supervisor ends it. Should the supervisor die (killed), the checker is
 * reparented: it sees its parent change in `/proc/self/stat` and ends too (no fork for that look).
 */
const SPOOL_CHECKER =
  's=$1; m=$2; t=$3; ' +
  PUNCH_FN +
  'while sleep 1; do ' +
  '{ read -r l </proc/self/stat; } 2>/dev/null && { l=${l##*") "}; set -- $l; [ "$2" = "$PPID" ] || exit 0; }; ' +
  'punch; done';

/** What {@link startArgv} needs. */
export interface StartArgvOptions {
  /** The command's spool directory ({@link spoolDirOf}). */
  spool: string;
  /** Absolute workspace: the directory, symlinks followed, must stay inside it. */
  workspace: string;
  /** Absolute directory to run in. */
  dir: string;
  argv: readonly string[];
  /** Exported before the command starts. */
  env?: Record<string, string> | undefined;
  /**
   * Whether the start's own stdin carries the command's stdin (copied to the spool); without, the
   * command's stdin is empty and nothing is read.
   * @default true
   */
  stdin?: boolean;
  /**
   * The bound, in bytes, on what each of the spool's `stdout` and `stderr` keeps on disk
   * (`RDEV_MAX_OUTPUT_BYTES`): while the command runs, and once more right before its exit is
   * recorded, the blocks of each file past this offset are freed (`fallocate --punch-hole`) but for
   * its last {@link SPOOL_TAIL_BYTES}; the files' sizes, and so every reader's offsets, stay as
   * they are. Undefined or 0: no bound.
   */
  maxSpoolBytes?: number | undefined;
}

/**
 * The argv that starts a supervised command. Its stdin is copied to the spool's `stdin` (send the
 * command's stdin, then end it). It prints the command's process group id on stdout and exits 0
 * once the supervisor recorded it; a start refused by the checks (workdir) prints nothing, records
 * exit 125 with an `rdev: ...` line in `stderr`, and exits 0 too; only a spool it cannot create
 * makes it exit 125 itself. Throws on an environment variable name a shell cannot export.
 */
export function startArgv(o: StartArgvOptions): string[] {
  if (o.argv.length === 0) throw new Error('argv is empty');
  const maxSpoolBytes = o.maxSpoolBytes ?? 0;
  if (!Number.isSafeInteger(maxSpoolBytes) || maxSpoolBytes < 0) throw new Error(`invalid maxSpoolBytes: ${o.maxSpoolBytes}`);
  const exports = Object.entries(o.env ?? {}).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name: ${JSON.stringify(k)}`);
    return `export ${k}=${shellQuote(v)}; `;
  });
  const script =
    's=$1; w=$2; d=$3; shift 3; ' +
    'mkdir -p "$s" 2>/dev/null && : >"$s/stdout" && : >"$s/stderr" || { echo "rdev: cannot create the spool $s" >&2; exit 125; }; ' +
    // A start again under the same id trusts no record of the one before.
    'for f in exit pgid supervisor; do [ -e "$s/$f" ] && rm -f "$s/$f"; done; ' +
    (o.stdin === false ? ': >"$s/stdin"; ' : 'cat >"$s/stdin"; ') +
    'refuse() { echo "rdev: $1" >>"$s/stderr"; echo 125 >"$s/exit.tmp" && mv "$s/exit.tmp" "$s/exit"; exit 0; }; ' +
    // cd -P: $PWD is the directory with symlinks followed (no subshell, no fork: every one counts in a start).
    'cd -P "$w" 2>/dev/null || refuse "cannot enter the workspace $w"; r=$PWD; ' +
    'cd -P "$d" 2>/dev/null || refuse "cannot enter $d"; ' +
    'case "$PWD/" in "$r"/*) ;; *) refuse "$d leads outside the workspace $w" ;; esac; ' +
    exports.join('') +
    // The supervisor in the background: $(…) returns once the command's shell printed its group and
    // every writer closed the pipe (no polling, no sleep).
    `pg=$(setsid sh -c ${shellQuote(supervisorScript(maxSpoolBytes))} rdev-supervise "$s" "$@" </dev/null 2>/dev/null &); ` +
    '[ -n "$pg" ] || { echo "rdev: the supervisor did not start" >&2; exit 125; }; ' +
    'echo "$pg"';
  return ['sh', '-c', script, 'rdev-start', o.spool, o.workspace, o.dir, ...o.argv];
}

/**
 * The argv that sends `signal` to the command's recorded group. It waits up to ~2 s for the group
 * to be recorded (a cancel may come right after the start) and exits 0 whatever it found.
 */
export function signalArgv(spool: string, signal: 'TERM' | 'KILL'): string[] {
  const script =
    's=$1; i=0; ' +
    'while [ ! -s "$s/pgid" ] && [ ! -e "$s/exit" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; ' +
    // Once the exit is recorded the group is gone, and its id may be someone else's by now.
    '[ -e "$s/exit" ] && exit 0; [ -s "$s/pgid" ] || exit 0; pg=$(cat "$s/pgid"); ' +
    `[ "$pg" -gt 1 ] 2>/dev/null && kill -s ${signal} -- "-$pg" 2>/dev/null; exit 0`;
  return ['sh', '-c', script, 'rdev-signal', spool];
}

/** The argv that deletes a command's spool. */
export function removeArgv(spool: string): string[] {
  return ['rm', '-rf', '--', spool];
}

/** Parses the group id the start script printed; undefined when it printed none. */
export function parsePgid(stdout: string): number | undefined {
  const m = /^\s*(\d+)\s*$/.exec(stdout);
  const n = m ? Number(m[1]) : NaN;
  // 0 and 1 would signal our own group or every process: never.
  return Number.isSafeInteger(n) && n > 1 ? n : undefined;
}
