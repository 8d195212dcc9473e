import type { CommandEvent } from '../runs/types.js';
import { claudeLines } from './claude-lines.js';

/**
 * How command events become the seed's SSE events: one `output` event per line, one `complete`
 * at the end. Each has an id `seq` or `seq.line`, so that `Last-Event-ID` resumes mid-chunk.
 */

/** The lines of an output chunk: split at "\n", without the newline (and a "\r" before it). */
export function linesOf(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

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

/** The frames of one command event, skipping lines up to `skipThrough` (for a resume inside it). */
export function framesOf(event: CommandEvent, skipThrough = -1, extra: Record<string, unknown> = {}): SseFrame[] {
  switch (event.type) {
    case 'output':
      return linesOf(event.text).flatMap((line, i) =>
        i <= skipThrough ? [] : [{ event: 'output' as const, id: `${event.seq}.${i}`, data: { ...extra, stream: event.stream.toLowerCase(), line } }],
      );
    case 'claude':
      return claudeLines(event).flatMap((l, i) => (i <= skipThrough ? [] : [{ event: 'output' as const, id: `${event.seq}.${i}`, data: { ...extra, ...l } }]));
    case 'completed':
      return [
        {
          event: 'complete',
          id: String(event.seq),
          data: { ...extra, exit_code: event.exitCode, duration_ms: event.durationMs, status: event.status.toLowerCase(), error: event.error },
        },
      ];
  }
}
