import { createHash, type Hash } from 'node:crypto';
import type { NewCommandEvent } from './types.js';

/**
 * Counts and hashes a command's output, and keeps what is logged under `maxBytes`: past it,
 * output events are dropped (the command keeps running) and {@link OutputMeter.marker} says how
 * much was dropped.
 */
export class OutputMeter {
  private readonly hash: Hash = createHash('sha256');
  /** Bytes the command wrote (UTF-8 of its output text). */
  bytes = 0;
  /** Bytes dropped past the limit. */
  dropped = 0;

  constructor(private readonly maxBytes: number) {}

  /** The events to log: output past the limit is left out (the event that crosses it keeps its whole lines that fit). */
  admit(events: NewCommandEvent[]): NewCommandEvent[] {
    const admitted: NewCommandEvent[] = [];
    for (const e of events) {
      if (e.type !== 'output') {
        admitted.push(e);
        continue;
      }
      const bytes = Buffer.from(e.text);
      this.hash.update(bytes);
      const room = this.dropped > 0 ? 0 : this.maxBytes - (this.bytes - this.dropped);
      this.bytes += bytes.length;
      if (bytes.length <= room) {
        admitted.push(e);
        continue;
      }
      // Once past the limit, everything after is dropped, so the log keeps a prefix without gaps.
      const fits = new TextDecoder('utf-8').decode(bytes.subarray(0, room), { stream: true });
      const prefix = fits.includes('\n') ? fits.slice(0, fits.lastIndexOf('\n') + 1) : '';
      if (prefix) admitted.push({ ...e, text: prefix });
      this.dropped += bytes.length - Buffer.byteLength(prefix);
    }
    return admitted;
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

  /** sha256 of everything the command wrote, dropped output included. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }
}
