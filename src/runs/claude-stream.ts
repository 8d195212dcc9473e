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

/**
 * Splits a byte stream into lines, reassembling a line written across several chunks.
 * Feed decoded text with {@link LineSplitter.push}; {@link LineSplitter.end} returns the tail.
 */
export class LineSplitter {
  private rest = '';

  /** Returns the complete lines (without "\n") that `text` finished. */
  push(text: string): string[] {
    const joined = this.rest + text;
    const lines = joined.split('\n');
    this.rest = lines.pop()!;
    return lines;
  }

  /** The unterminated last line, if any. */
  end(): string | undefined {
    const tail = this.rest;
    this.rest = '';
    return tail === '' ? undefined : tail;
  }
}
