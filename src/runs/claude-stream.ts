import type { ClaudeEvent } from './types.js';

/**
 * Parsing Claude Code's `--output-format stream-json` NDJSON: one JSON object per line, `type`
 * system | assistant | user | result (https://docs.claude.com/en/docs/claude-code/headless,
 * SDK message types). Parsed tolerantly: key order varies and there are many extra keys.
 */

/** A stream-json message, as far as this server reads it. */
export interface ClaudeStreamMessage {
  type: string;
  subtype?: string;
  session_id?: string;
  model?: string;
  message?: { model?: string; content?: unknown };
  result?: string;
  is_error?: boolean;
  num_turns?: number;
  total_cost_usd?: number;
  duration_ms?: number;
  [key: string]: unknown;
}

/** Parses one line; undefined when it is not a stream-json message (it then stays plain output). */
export function parseClaudeLine(line: string): ClaudeStreamMessage | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    if (typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string') return value as ClaudeStreamMessage;
  } catch {
    // not JSON: plain output
  }
  return undefined;
}

interface ContentBlock {
  type?: string;
  text?: string;
  name?: string;
}

function blocksOf(message: ClaudeStreamMessage): ContentBlock[] {
  const content = message.message?.content;
  return Array.isArray(content) ? (content.filter((b) => typeof b === 'object' && b !== null) as ContentBlock[]) : [];
}

/** The event a message becomes: the assistant's text ("" when none) and the first tool it uses. */
export function claudeEventOf(message: ClaudeStreamMessage, at: Date): Omit<ClaudeEvent, 'seq'> {
  const blocks = message.type === 'assistant' ? blocksOf(message) : [];
  const text = blocks
    .filter((b) => b.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text)
    .join('');
  const tool = blocks.find((b) => b.type === 'tool_use' && typeof b.name === 'string');
  return {
    type: 'claude',
    messageType: message.type,
    subtype: typeof message.subtype === 'string' ? message.subtype : null,
    text,
    toolName: tool?.name ?? null,
    message,
    at,
  };
}

/** What {@link LineSplitter} makes of the text: a whole line, or a piece of a line that cannot be a message. */
export type LinePiece =
  /** A line of at most `maxLineChars`, without its newline. */
  | { type: 'line'; line: string }
  /**
   * Part of a line that cannot be a message, as written (the last part ends with its newline): longer than
   * `maxLineChars`, or, while unterminated, starting with something else than `{`.
   */
  | { type: 'long'; text: string };

/**
 * The longest line taken as a possible stream-json message, in UTF-16 code units (8 Mi): far above
 * what Claude Code writes (tool results are cut to tens of KiB; an image is a few MiB of base64),
 * low enough that one `JSON.parse` of it does not hold the event loop for long.
 */
export const MAX_CLAUDE_LINE_CHARS = 8 * 1024 * 1024;

/**
 * Splits decoded text into lines, reassembling a line written across several chunks. Linear: a
 * chunk is searched for newlines once, and the pieces of an unfinished line are joined only when
 * its newline comes. Only a line that may be a message is held until its newline: one that grows
 * past `maxLineChars`, or whose first character other than white space is not `{` (no
 * {@link parseClaudeLine} message), is given up: what is held goes out as a `long` piece, and so
 * does the rest of that line as it arrives. What is held stays bounded, and a long line of plain
 * output (a 64 MiB line of a tool) is passed on as it comes instead of in one burst of 8 Mi at
 * the bound, which held the event loop for hundreds of ms.
 */
export class LineSplitter {
  private pieces: string[] = [];
  private held = 0;
  /** Inside a line that was given up: its text goes out as it comes, up to its newline. */
  private long = false;
  /** The line held has begun with `{` (after white space, if any). */
  private opened = false;

  constructor(private readonly maxLineChars = MAX_CLAUDE_LINE_CHARS) {}

  /** The lines `text` finished, and the pieces of a long line it carried, in order. */
  push(text: string): LinePiece[] {
    const out: LinePiece[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      if (this.long) {
        out.push({ type: 'long', text: text.slice(start, nl + 1) });
        this.long = false;
      } else if (this.held + (nl - start) > this.maxLineChars) {
        out.push({ type: 'long', text: this.take() + text.slice(start, nl + 1) });
      } else {
        out.push({ type: 'line', line: this.take() + text.slice(start, nl) });
      }
      start = nl + 1;
    }
    if (start === text.length) return out;
    const rest = start === 0 ? text : text.slice(start);
    if (this.long) {
      out.push({ type: 'long', text: rest });
    } else if (this.held + rest.length > this.maxLineChars || !this.mayBeMessage(rest)) {
      out.push({ type: 'long', text: this.take() + rest });
      this.long = true;
    } else {
      this.pieces.push(rest);
      this.held += rest.length;
    }
    return out;
  }

  /** The unterminated last line, if any (nothing once a long line has gone out in pieces). */
  end(): string | undefined {
    this.long = false;
    const tail = this.take();
    return tail === '' ? undefined : tail;
  }

  /** Whether the unterminated line held, continued by `rest`, may still be a message: `{` first, or only white space so far. */
  private mayBeMessage(rest: string): boolean {
    if (this.opened) return true;
    const first = rest.search(/\S/);
    if (first === -1) return true;
    this.opened = rest[first] === '{';
    return this.opened;
  }

  private take(): string {
    const joined = this.pieces.length === 1 ? this.pieces[0]! : this.pieces.join('');
    this.pieces = [];
    this.held = 0;
    this.opened = false;
    return joined;
  }
}
