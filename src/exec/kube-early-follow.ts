/**
 * One exec instead of two for the common start (a command without stdin): the start script, then,
 * in the same exec, the follower from offset 0 ({@link startAndFollowArgv}). Its first stdout line
 * says how the start went; what comes after is the follower's, exactly as an attach's own follow
 * exec would deliver it. {@link EarlyFollow} holds that output until the attach claims it.
 */
import { shellQuote } from './supervisor.js';

type OutputStream = 'STDOUT' | 'STDERR';

/** What the line before the follower's output says. */
export interface StartLine {
  /** The start script's exit status (0: started, or refused inside the workspace with the record written). */
  code: number;
  /** Its output: the group id on success (empty when refused), the error in words otherwise. */
  text: string;
}

/** How long a follower the attach has not claimed is kept, and how much of its output: then it is dropped (the spool has it all). */
const UNCLAIMED_MS = 10_000;
const UNCLAIMED_BYTES = 1 << 20;

/**
 * The argv that runs `start` (a {@link startArgv} without stdin), prints `rdev-start <code> <text>`
 * (the start's stdout, or its error with newlines made spaces), and, when the start exited 0,
 * becomes `follow` (a {@link followArgv} of the same spool) with the exec's stdin: from then on the
 * exec is the follower, exit status included. A failed start exits with its own status.
 */
export function startAndFollowArgv(start: readonly string[], follow: readonly string[]): string[] {
  const [, , startScript, , ...startArgs] = start;
  const [, , followScript, , ...followArgs] = follow;
  if (start[0] !== 'sh' || follow[0] !== 'sh' || !startScript || !followScript) throw new Error('startAndFollowArgv: expected two `sh -c` argvs');
  const script =
    's=$1; f=$2; shift 2; ' +
    'o=$(sh -c "$s" rdev-start "$@" </dev/null 2>&1); rc=$?; ' +
    `if [ $rc -eq 0 ]; then printf "rdev-start 0 %s\\n" "$o"; exec sh -c "$f" rdev-follow ${followArgs.map(shellQuote).join(' ')}; fi; ` +
    'printf "rdev-start %s %s\\n" "$rc" "$(printf %s "$o" | tr "\\n" " ")"; exit $rc';
  return ['sh', '-c', script, 'rdev-start-follow', startScript, followScript, ...startArgs];
}

/** Parses the `rdev-start` line; undefined when it is not one. */
export function parseStartLine(line: string): StartLine | undefined {
  const m = /^rdev-start (\d{1,3}) ?(.*)$/.exec(line);
  return m ? { code: Number(m[1]), text: m[2]!.trim() } : undefined;
}

/**
 * The output of a start-and-follow exec: splits off the {@link StartLine}, then holds the follower's
 * output in order until {@link claim} hands it (and all that comes after) to an attach. Not claimed
 * within {@link UNCLAIMED_MS}, or past {@link UNCLAIMED_BYTES}, it calls `drop` (the caller ends the
 * exec; a later attach follows from its offsets as usual).
 */
export class EarlyFollow {
  private head: Buffer[] = [];
  private held: Array<[OutputStream, Buffer]> = [];
  private heldBytes = 0;
  private sink: ((stream: OutputStream, bytes: Buffer) => void) | undefined;
  /** Armed once the start line came (a slow start is not given up on). */
  private timer: NodeJS.Timeout | undefined;
  private line: ((line: StartLine | undefined) => void) | undefined;
  /** Resolves with the start line, or undefined when the exec ended without one. */
  readonly started: Promise<StartLine | undefined>;
  dropped = false;

  constructor(private readonly drop: () => void) {
    this.started = new Promise((resolve) => (this.line = resolve));
  }

  /** The exec's output, synchronously as it arrives. */
  output(stream: OutputStream, bytes: Buffer): void {
    if (this.line) {
      if (stream === 'STDERR') return void this.hold(stream, bytes); // the start's errors go to its stdout
      const nl = bytes.indexOf(10);
      if (nl < 0) return void this.head.push(bytes);
      const head = [...this.head, bytes.subarray(0, nl)];
      const resolve = this.line;
      this.line = undefined;
      this.head = [];
      this.timer = setTimeout(() => this.giveUp(), UNCLAIMED_MS);
      this.timer.unref();
      resolve(parseStartLine(Buffer.concat(head).toString()));
      if (nl + 1 < bytes.length) this.hold(stream, bytes.subarray(nl + 1));
      return;
    }
    if (this.sink) this.sink(stream, bytes);
    else this.hold(stream, bytes);
  }

  /** The exec ended (whatever way): a start line that never came is undefined. */
  ended(): void {
    clearTimeout(this.timer);
    this.line?.(undefined);
    this.line = undefined;
  }

  /** Hands what was held, and everything after, to `sink`; false when it was dropped meanwhile. */
  claim(sink: (stream: OutputStream, bytes: Buffer) => void): boolean {
    clearTimeout(this.timer);
    if (this.dropped) return false;
    for (const [stream, bytes] of this.held) sink(stream, bytes);
    this.held = [];
    this.sink = sink;
    return true;
  }

  private hold(stream: OutputStream, bytes: Buffer): void {
    if (this.dropped) return;
    this.held.push([stream, bytes]);
    this.heldBytes += bytes.length;
    if (this.heldBytes > UNCLAIMED_BYTES) this.giveUp();
  }

  private giveUp(): void {
    if (this.sink || this.dropped) return;
    this.dropped = true;
    this.held = [];
    this.drop();
  }
}
