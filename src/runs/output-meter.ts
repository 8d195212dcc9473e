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

  /** The events to log: output past the limit is left out. */
  admit(events: NewCommandEvent[]): NewCommandEvent[] {
    return events.filter((e) => {
      if (e.type !== 'output') return true;
      const size = Buffer.byteLength(e.text);
      this.hash.update(e.text);
      const kept = this.bytes - this.dropped;
      this.bytes += size;
      // Once past the limit, everything after is dropped, so the log keeps a prefix without gaps.
      if (this.dropped > 0 || kept + size > this.maxBytes) {
        this.dropped += size;
        return false;
      }
      return true;
    });
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
