import { createHash, type Hash } from 'node:crypto';
import type { ClaudeEvent, NewCommandEvent, OutputEvent, OutputStream, SpoolPosition } from './types.js';

/**
 * Counts and hashes a command's output, and keeps what is logged under `maxBytes`: past it,
 * output events and Claude messages are dropped (the command keeps running) and {@link
 * OutputMeter.marker} says how much was dropped.
 *
 * Two views of the same bytes: {@link OutputMeter.read} sees the raw bytes as they come from the
 * process (both streams, whatever they become), which the audit reports; {@link OutputMeter.admit}
 * and {@link OutputMeter.admitMessage} see the events made of them and apply the limit, counting an
 * output event by its text and a Claude message by the line it was parsed from.
 *
 * What the audit gets: {@link OutputMeter.bytes} counts every byte of both streams; {@link
 * OutputMeter.digest} hashes the bytes of each stream below offset `maxBytes`, in the order they
 * were read. The spool frees the bytes of each file past that offset (but for its tail, see
 * `SPOOL_TAIL_BYTES` in `src/exec/supervisor.ts`) while the command runs, so a reader that is
 * behind reads zeros there: their number is exact (offsets stay), their content is not known, and
 * hashing them would make the digest depend on how fast the server read. Below the bound every
 * byte is the command's own; a command that stays below it has every byte hashed.
 *
 * A server that adopts a running command (a restart, a replica taking it over) resumes the meter
 * from the stored spool position: the count, the offsets and what the cap has used go on from
 * there, so the cap holds across restarts. The hash cannot: a hash's state is not stored, and the
 * bytes read before are not read again. Such a meter has no {@link OutputMeter.digest} (null): the
 * audit says it does not know rather than give the digest of a part.
 */
export class OutputMeter {
  private readonly hash: Hash = createHash('sha256');
  /** Raw bytes the command wrote, both streams (after an adoption: those covered before it, and those read since). */
  bytes = 0;
  /** Bytes of output or messages left out of the log past the limit. */
  dropped = 0;
  /** Bytes logged (after an adoption: those logged before it too). */
  get kept(): number {
    return this.logged;
  }
  private logged = 0;
  /** Where each stream's next byte is in its spool file. */
  private readonly offsets: Record<OutputStream, number>;
  /** False once resumed from a position past 0: the bytes before it are not in the hash. */
  private readonly wholeHash: boolean;

  /**
   * @param maxBytes the output cap (`RDEV_MAX_OUTPUT_BYTES`), also the spool's bound.
   * @param from where an adopted command's stored events end (see {@link SpoolPosition.logged}); a new command starts at 0.
   */
  constructor(
    private readonly maxBytes: number,
    from?: SpoolPosition,
  ) {
    const covered = (from?.stdout ?? 0) + (from?.stderr ?? 0);
    this.offsets = { STDOUT: from?.stdout ?? 0, STDERR: from?.stderr ?? 0 };
    this.bytes = covered;
    // Whatever was covered and not logged was dropped: the cap was reached, and stays so.
    this.logged = Math.min(from?.logged ?? covered, maxBytes, covered);
    this.dropped = covered - this.logged;
    this.wholeHash = covered === 0;
  }

  /** Takes bytes of `stream` as they come from the process, before they are split into lines or parsed. */
  read(stream: OutputStream, bytes: Uint8Array): void {
    const at = this.offsets[stream];
    // Only the bytes below the spool's bound: past it they may read back as zeros (see the class comment).
    if (at < this.maxBytes) this.hash.update(bytes.length <= this.maxBytes - at ? bytes : bytes.subarray(0, this.maxBytes - at));
    this.offsets[stream] = at + bytes.length;
    this.bytes += bytes.length;
  }

  /** The output events to log: output past the limit is left out (the event that crosses it keeps its whole lines that fit). */
  admit(events: ReadonlyArray<Omit<OutputEvent, 'seq'>>): NewCommandEvent[] {
    const admitted: NewCommandEvent[] = [];
    for (const e of events) {
      const bytes = Buffer.from(e.text);
      const room = this.room();
      if (bytes.length <= room) {
        this.logged += bytes.length;
        admitted.push(e);
        continue;
      }
      // Once past the limit, everything after is dropped, so the log keeps a prefix without gaps.
      const fits = new TextDecoder('utf-8').decode(bytes.subarray(0, room), { stream: true });
      const prefix = fits.includes('\n') ? fits.slice(0, fits.lastIndexOf('\n') + 1) : '';
      if (prefix) admitted.push({ ...e, text: prefix });
      const keptBytes = Buffer.byteLength(prefix);
      this.logged += keptBytes;
      this.dropped += bytes.length - keptBytes;
    }
    return admitted;
  }

  /** A Claude message parsed from a line of `bytes` bytes (newline included): logged whole while it fits, else dropped. */
  admitMessage(event: Omit<ClaudeEvent, 'seq'>, bytes: number): NewCommandEvent[] {
    if (bytes <= this.room()) {
      this.logged += bytes;
      return [event];
    }
    this.dropped += bytes;
    return [];
  }

  /** One event saying how much output was dropped, if any was. */
  marker(): NewCommandEvent | undefined {
    if (this.dropped === 0) return undefined;
    return {
      type: 'output',
      stream: 'STDERR',
      text: `[rdev] output limit of ${this.maxBytes} bytes reached: ${this.dropped} bytes of output were dropped\n`,
      at: new Date(),
    };
  }

  /**
   * sha256 of the raw bytes {@link read} below the bound of each stream (see the class comment), dropped output
   * included; null for a meter resumed past 0 (an adopted command: the bytes before are not in the hash).
   */
  digest(): string | null {
    return this.wholeHash ? this.hash.copy().digest('hex') : null;
  }

  private room(): number {
    return this.dropped > 0 ? 0 : Math.max(0, this.maxBytes - this.logged);
  }
}
