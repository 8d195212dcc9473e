import type { ClaudeEvent } from '../runs/types.js';
import { linesOf } from './text-lines.js';

/**
 * How a Claude message reads on the REST events stream, whose clients print `data.line`:
 * the assistant's text as it is, tool use and results in one short line each, the result as
 * a summary. Deterministic, so `Last-Event-ID` line numbers stay valid on a resume.
 */

const MAX = 200;

function clip(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > MAX ? `${one.slice(0, MAX - 1)}…` : one;
}

interface Block {
  type?: string;
  text?: string;
  name?: string;
  input?: unknown;
  content?: unknown;
  is_error?: boolean;
}

function blocks(message: unknown): Block[] {
  const content = (message as { message?: { content?: unknown } })?.message?.content;
  return Array.isArray(content) ? (content.filter((b) => typeof b === 'object' && b !== null) as Block[]) : [];
}

function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c) => (typeof c?.text === 'string' ? c.text : '')).join(' ');
  return '';
}

/** The lines (and their stream) that one Claude message shows as. */
export function claudeLines(event: ClaudeEvent): Array<{ stream: 'stdout' | 'stderr'; line: string }> {
  const m = event.message as Record<string, unknown>;
  const out = (line: string) => ({ stream: 'stdout' as const, line });
  switch (event.messageType) {
    case 'system':
      if (event.subtype === 'init') return [out(`[claude] session ${String(m.session_id ?? '?')} · ${String(m.model ?? 'default model')}`)];
      return [out(`[system] ${event.subtype ?? 'message'}`)];
    case 'assistant':
      return blocks(m).flatMap((b) => {
        if (b.type === 'text' && typeof b.text === 'string') return linesOf(b.text).map(out);
        if (b.type === 'tool_use') return [out(`[tool] ${b.name ?? '?'} ${clip(JSON.stringify(b.input ?? {}))}`)];
        return [];
      });
    case 'user':
      return blocks(m)
        .filter((b) => b.type === 'tool_result')
        .map((b) => ({ stream: b.is_error ? ('stderr' as const) : ('stdout' as const), line: `[tool result] ${clip(resultText(b.content))}` }));
    case 'result': {
      const cost = typeof m.total_cost_usd === 'number' ? ` · $${m.total_cost_usd.toFixed(4)}` : '';
      const turns = typeof m.num_turns === 'number' ? ` · ${m.num_turns} turns` : '';
      const failed = m.is_error === true || event.subtype !== 'success';
      const head = failed ? `[error] ${event.subtype ?? 'error'}${typeof m.result === 'string' ? `: ${clip(m.result)}` : ''}` : `[result] ${event.subtype}`;
      return [{ stream: failed ? 'stderr' : 'stdout', line: `${head}${turns}${cost}` }];
    }
    default:
      return [out(`[${event.messageType}] ${event.subtype ?? ''}`.trim())];
  }
}
