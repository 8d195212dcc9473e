import { prng } from './server-process.js';

/**
 * A Server-Sent Events reader that can drop its connection where a test tells it to: at an event
 * boundary (a client that goes away), or a given number of bytes further on, which is as a rule
 * inside an event (a connection torn mid-frame). Only whole events (ended by a blank line) are
 * handed over; the torn remainder is discarded, as a real client discards it.
 */

/** One SSE event (comments such as heartbeats are not events and are not reported). */
export interface SseFrame {
  id?: string;
  event: string;
  data: string;
}

/** What the reader does after an event. */
export type Verdict = 'continue' | 'disconnect' | { tearAfter: number };

/** How a connection ended. */
export type ConnectionEnd = 'ended' | 'disconnected' | 'torn';

/**
 * Reads one SSE response, calling `onFrame` for each whole event. Returns `ended` when the server
 * ended the stream, `disconnected` when `onFrame` said so, `torn` when the connection was cut
 * `tearAfter` characters after the event that asked for it (the output here is ASCII, so characters
 * are bytes).
 */
export async function readConnection(url: string, init: RequestInit, onFrame: (frame: SseFrame) => Verdict): Promise<ConnectionEnd> {
  const controller = new AbortController();
  const res = await fetch(url, { ...init, signal: controller.signal, headers: { accept: 'text/event-stream', ...(init.headers as Record<string, string>) } });
  if (res.status !== 200 || !res.body) throw new Error(`SSE request to ${url} answered ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  let bufferStart = 0; // stream offset of buffer[0]
  let received = 0; // characters taken from the stream so far
  let tearAt = Infinity; // stream offset at which the connection is cut
  try {
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      let text = decoder.decode(bytes, { stream: true });
      if (received + text.length > tearAt) text = text.slice(0, Math.max(0, tearAt - received));
      received += text.length;
      buffer += text;
      let offset = 0;
      for (let end = buffer.indexOf('\n\n', offset); end >= 0; end = buffer.indexOf('\n\n', offset)) {
        const frame = parseBlock(buffer.slice(offset, end));
        offset = end + 2;
        if (!frame) continue;
        const verdict = onFrame(frame);
        if (tearAt !== Infinity || verdict === 'continue') continue;
        if (verdict === 'disconnect') return 'disconnected';
        tearAt = bufferStart + offset + verdict.tearAfter;
        if (received > tearAt) {
          buffer = buffer.slice(0, tearAt - bufferStart);
          received = tearAt;
        }
      }
      buffer = buffer.slice(offset);
      bufferStart += offset;
      if (received >= tearAt) return 'torn';
    }
    return 'ended';
  } finally {
    controller.abort();
  }
}

function parseBlock(block: string): SseFrame | undefined {
  const frame: SseFrame = { event: 'message', data: '' };
  const data: string[] = [];
  let fields = 0;
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') frame.id = value;
    else if (field === 'event') frame.event = value;
    else if (field === 'data') data.push(value);
    else continue; // `retry:` and unknown fields
    fields++;
  }
  if (fields === 0 || (data.length === 0 && frame.id === undefined && frame.event === 'message')) return undefined;
  frame.data = data.join('\n');
  return frame;
}

/** One planned disconnect: once the client holds `atLine` lines, it leaves cleanly or tears the connection `tearAfter` bytes on. */
export interface Cut {
  atLine: number;
  kind: 'clean' | 'torn';
  tearAfter: number;
}

/**
 * Where a client disconnects: `count` points spread at random (seeded) over the first 98 % of
 * `lines` lines, half of them clean, half torn up to `maxTear` bytes further on.
 */
export function planCuts(seed: number, count: number, lines: number, maxTear: number): Cut[] {
  const random = prng(seed);
  const cuts: Cut[] = [];
  for (let i = 0; i < count; i++) {
    cuts.push({ atLine: random.int(1, Math.floor(lines * 0.98)), kind: random.next() < 0.5 ? 'clean' : 'torn', tearAfter: random.int(1, maxTear) });
  }
  return cuts.sort((a, b) => a.atLine - b.atLine);
}

/** Hands out the planned cuts in order as the client's progress passes them, one per connection. */
export class CutSchedule {
  private next = 0;
  readonly done = { clean: 0, torn: 0 };

  constructor(private readonly cuts: readonly Cut[]) {}

  /** The cut due now that the client holds `lines` lines, if any (each connection takes at most one). */
  due(lines: number): Cut | undefined {
    const cut = this.cuts[this.next];
    if (!cut || lines < cut.atLine) return undefined;
    this.next++;
    return cut;
  }

  /** Records that a cut really dropped the connection. */
  record(kind: 'clean' | 'torn'): void {
    this.done[kind]++;
  }

  get total(): number {
    return this.done.clean + this.done.torn;
  }

  /** Cuts not handed out (the stream ended first). */
  get remaining(): number {
    return this.cuts.length - this.next;
  }
}
