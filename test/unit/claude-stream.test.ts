import { describe, expect, it } from 'vitest';
import { claudeLines } from '../../src/rest/claude-lines.js';
import { claudeEventOf, LineSplitter, parseClaudeLine } from '../../src/runs/claude-stream.js';
import { claudeFailure, EMPTY_CLAUDE_SUMMARY, foldClaudeMessage } from '../../src/runs/claude-summary.js';

const at = new Date(0);
const init = { type: 'system', subtype: 'init', session_id: 's-1', model: 'claude-x' };
const result = { type: 'result', subtype: 'success', is_error: false, result: 'Done.\nMore.', num_turns: 2, total_cost_usd: 0.5, duration_ms: 1200, session_id: 's-1' };

describe('parseClaudeLine', () => {
  it('parses a stream-json message and leaves anything else as output', () => {
    expect(parseClaudeLine('{"type":"system","subtype":"init"}')).toEqual({ type: 'system', subtype: 'init' });
    expect(parseClaudeLine('plain text')).toBeUndefined();
    expect(parseClaudeLine('{"no":"type"}')).toBeUndefined();
    expect(parseClaudeLine('{"type":')).toBeUndefined();
  });
});

describe('LineSplitter', () => {
  it('reassembles a line written in pieces', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.push('1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.end()).toBe('{"b"');
  });
});

describe('claudeEventOf', () => {
  it("takes the assistant's text and the first tool it uses", () => {
    const message = { type: 'assistant', message: { content: [{ type: 'text', text: 'Let me look. ' }, { type: 'tool_use', name: 'Bash', input: {} }, { type: 'text', text: 'Ok' }] } };
    expect(claudeEventOf(message, at)).toEqual({ type: 'claude', messageType: 'assistant', subtype: null, text: 'Let me look. Ok', toolName: 'Bash', message, at });
  });
  it('gives "" as text for messages without any', () => {
    expect(claudeEventOf(result, at)).toMatchObject({ messageType: 'result', subtype: 'success', text: '', toolName: null });
  });
});

describe('ClaudeRun summary', () => {
  it('takes session and model from init, the rest from the result', () => {
    const summary = foldClaudeMessage(foldClaudeMessage(EMPTY_CLAUDE_SUMMARY, init), result);
    expect(summary).toEqual({ sessionId: 's-1', model: 'claude-x', result: 'Done.\nMore.', isError: false, numTurns: 2, totalCostUsd: 0.5, durationMs: 1200, resultSubtype: 'success' });
    expect(claudeFailure(summary, 0)).toBeNull();
  });
  it('a run without a result, an error result, and a non-zero exit each fail with a reason', () => {
    expect(claudeFailure(foldClaudeMessage(EMPTY_CLAUDE_SUMMARY, init), 0)).toBe('claude exited with code 0 without a result message');
    const error = foldClaudeMessage(EMPTY_CLAUDE_SUMMARY, { ...result, is_error: true, result: 'API Error: overloaded' });
    expect(claudeFailure(error, 1)).toBe('claude reported an error (success): API Error: overloaded');
    expect(claudeFailure(foldClaudeMessage(EMPTY_CLAUDE_SUMMARY, result), 2)).toBe('exited with code 2');
  });
});

describe('claudeLines (REST rendering)', () => {
  it('renders init, text, tool use, tool results and the result as short lines', () => {
    const ev = (m: any) => ({ ...claudeEventOf(m, at), seq: 1 });
    expect(claudeLines(ev(init))).toEqual([{ stream: 'stdout', line: '[claude] session s-1 · claude-x' }]);
    expect(claudeLines(ev({ type: 'assistant', message: { content: [{ type: 'text', text: 'a\nb' }, { type: 'tool_use', name: 'Read', input: { file_path: 'x' } }] } }))).toEqual([
      { stream: 'stdout', line: 'a' },
      { stream: 'stdout', line: 'b' },
      { stream: 'stdout', line: '[tool] Read {"file_path":"x"}' },
    ]);
    expect(claudeLines(ev({ type: 'user', message: { content: [{ type: 'tool_result', content: 'boom', is_error: true }] } }))).toEqual([{ stream: 'stderr', line: '[tool result] boom' }]);
    expect(claudeLines(ev(result))).toEqual([{ stream: 'stdout', line: '[result] success · 2 turns · $0.5000' }]);
  });
});
