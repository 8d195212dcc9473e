import { splitAtLastNewline } from '../runs/chunker.js';
import type { CommandEvent } from '../runs/types.js';
import { claudeLines } from './claude-lines.js';
import { sseFrame } from './sse-frame.js';
import { linesOf } from './text-lines.js';

/**
 * How command events become the seed's SSE events: one `output` event per line, one `complete`
 * at the end. Each has an id `seq` or `seq.line`, so that `Last-Event-ID` resumes mid-chunk.
 */

/** Where a stream resumes: after line `line` of event `seq` (line -1: after the whole event). */
export interface ResumePoint {
  seq: number;
  line: number;
}

/** Parses a `Last-Event-ID` this server sent; undefined when it is not one. */
export function parseLastEventId(value: string | undefined): ResumePoint | undefined {
  const m = /^(\d{1,15})(?:\.(\d{1,9}))?$/.exec(value ?? '');
  if (!m) return undefined;
  return { seq: Number(m[1]), line: m[2] === undefined ? -1 : Number(m[2]) };
}

/** One SSE event to write. */
export interface SseFrame {
  event: 'output' | 'complete';
  id: string;
  data: Record<string, unknown>;
}

/**
 * What JSON.stringify escapes in a string, `\n` aside (the lines' separator): `"`, `\\`, control characters, lone surrogates
 * (a pair is one code point here, and JSON leaves it as it is). Also DEL and the C1 controls, which JSON leaves: those
 * lines just take the slower way.
 */
const NEEDS_ESCAPE = /["\\\p{Cs}]|[^\P{Cc}\n]/u;

/**
 * Turns a command's events into SSE frames, one `output` per line. Output chunks can end inside a
 * line (a slow writer's partial line is flushed after a while); the renderer carries such a tail
 * per stream and sends the line once it is complete, so clients never see one line as two.
 * A line's id is the seq of the event that completed it and its index among that event's lines.
 */
export class LineRenderer {
  private readonly carry = { STDOUT: '', STDERR: '' };

  /** `carry`: the unterminated tails before the first event this renderer will see (see {@link carryBefore}). */
  constructor(
    private readonly extra: Record<string, unknown> = {},
    carry?: { STDOUT: string; STDERR: string },
  ) {
    if (carry) Object.assign(this.carry, carry);
  }

  /**
   * The SSE text of one event, skipping its lines up to `skipThrough`: byte for byte what {@link frames} gives, each
   * written with {@link sseFrame} and its id after `idPrefix`. Output lines go straight into the text, without a frame
   * object and a JSON.stringify each (a million-line command is a million frames).
   */
  text(event: CommandEvent, skipThrough = -1, idPrefix = ''): string {
    if (event.type !== 'output') return this.frames(event, skipThrough).reduce((text, f) => text + sseFrame(f.event, f.data, idPrefix + f.id), '');
    const [whole, rest] = splitAtLastNewline(this.carry[event.stream] + event.text);
    this.carry[event.stream] = rest;
    // The data up to the line's value, as JSON.stringify writes it (the extra fields first).
    const head = JSON.stringify({ ...this.extra, stream: event.stream.toLowerCase(), line: '' }).slice(0, -3);
    const frameHead = `\nevent: output\ndata: ${head}`;
    const idHead = `id: ${idPrefix}${event.seq}.`;
    const plain = !NEEDS_ESCAPE.test(whole);
    let text = '';
    // `whole` ends with its last newline: every line is followed by one, as linesOf reads it.
    for (let i = 0, start = 0, nl = whole.indexOf('\n'); nl >= 0; i++, start = nl + 1, nl = whole.indexOf('\n', start)) {
      if (i <= skipThrough) continue;
      const line = whole.slice(start, nl > start && whole.charCodeAt(nl - 1) === 13 /* \r */ ? nl - 1 : nl);
      text += `${idHead}${i}${frameHead}${plain ? `"${line}"` : JSON.stringify(line)}}\n\n`;
    }
    return text;
  }

  /** The frames of one event, skipping its lines up to `skipThrough` (a resume inside it). */
  frames(event: CommandEvent, skipThrough = -1): SseFrame[] {
    const lines: Array<{ stream: string; line: string }> = [];
    switch (event.type) {
      case 'output': {
        const [whole, rest] = splitAtLastNewline(this.carry[event.stream] + event.text);
        this.carry[event.stream] = rest;
        for (const line of linesOf(whole)) lines.push({ stream: event.stream.toLowerCase(), line });
        break;
      }
      case 'claude':
        lines.push(...claudeLines(event));
        break;
      case 'completed':
        for (const stream of ['STDOUT', 'STDERR'] as const) {
          if (this.carry[stream]) lines.push({ stream: stream.toLowerCase(), line: linesOf(this.carry[stream])[0]! });
          this.carry[stream] = '';
        }
        break;
    }
    const frames: SseFrame[] = lines.flatMap((l, i) =>
      i <= skipThrough ? [] : [{ event: 'output' as const, id: `${event.seq}.${i}`, data: { ...this.extra, ...l } }],
    );
    if (event.type === 'completed') {
      frames.push({
        event: 'complete',
        id: String(event.seq),
        data: { ...this.extra, exit_code: event.exitCode, duration_ms: event.durationMs, status: event.status.toLowerCase(), error: event.error },
      });
    }
    return frames;
  }
}

/**
 * The unterminated tails of each stream just before event `seq`, read backwards from the log,
 * so that a stream resumed there renders lines exactly as an uninterrupted one did.
 */
export async function carryBefore(
  read: (afterSeq: number, limit: number) => Promise<CommandEvent[]>,
  seq: number,
): Promise<{ STDOUT: string; STDERR: string }> {
  const carry = { STDOUT: '', STDERR: '' };
  const open = new Set<'STDOUT' | 'STDERR'>(['STDOUT', 'STDERR']);
  const window = 64;
  for (let end = seq - 1; end >= 1 && open.size > 0; end -= window) {
    const events = await read(Math.max(0, end - window), Math.min(window, end));
    for (let i = events.length - 1; i >= 0 && open.size > 0; i--) {
      const e = events[i]!;
      if (e.type !== 'output' || !open.has(e.stream)) continue;
      const [, tail] = splitAtLastNewline(e.text);
      carry[e.stream] = tail + carry[e.stream];
      if (tail.length < e.text.length) open.delete(e.stream); // this event holds the line's start
    }
  }
  return carry;
}
