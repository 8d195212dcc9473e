import { describe, expect, it } from 'vitest';
import { claudeLines } from '../../src/rest/claude-lines.js';
import { OutputChunker } from '../../src/runs/chunker.js';
import { claudeEventOf, LineSplitter, parseClaudeLine } from '../../src/runs/claude-stream.js';
import { createClaudeSink } from '../../src/runs/output-sink.js';
import { claudeFailure, EMPTY_CLAUDE_SUMMARY, foldClaudeMessage } from '../../src/runs/claude-summary.js';

const at = new Date(0);
const init = { type: 'system', subtype: 'init', session_id: 's-1', model: 'claude-x' };
const result = {
  type: 'result',
  subtype: 'success',
  is_error: false,
  result: 'Done.\nMore.',
  num_turns: 2,
  total_cost_usd: 0.5,
  duration_ms: 1200,
  session_id: 's-1',
};

describe('parseClaudeLine', () => {
  it('parses a stream-json message and leaves anything else as output', () => {
    expect(parseClaudeLine('{"type":"system","subtype":"init"}')).toEqual({ type: 'system', subtype: 'init' });
    expect(parseClaudeLine('plain text')).toBeUndefined();
    expect(parseClaudeLine('{"no":"type"}')).toBeUndefined();
    expect(parseClaudeLine('{"type":')).toBeUndefined();
  });
});

describe('LineSplitter', () => {
  const line = (l: string) => ({ type: 'line', line: l });
  const long = (text: string) => ({ type: 'long', text });

  it('reassembles a line written in pieces', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":')).toEqual([]);
    expect(s.push('1}\n{"b"')).toEqual([line('{"a":1}')]);
    expect(s.end()).toBe('{"b"');
  });

  it('gives up a line longer than the bound: what it held and the rest of the line go out as they come, newline included', () => {
    const s = new LineSplitter(10);
    expect(s.push('{123456789')).toEqual([]);
    expect(s.push('ab')).toEqual([long('{123456789ab')]);
    expect(s.push('cd')).toEqual([long('cd')]);
    expect(s.push('ef\n{"next":1}\n')).toEqual([long('ef\n'), line('{"next":1}')]);
    // A line over the bound that ends in the chunk that crossed it.
    expect(s.push('{123456789x\nok\n')).toEqual([long('{123456789x\n'), line('ok')]);
    expect(s.push(' {123')).toEqual([]);
    expect(s.push('456789xyz\n')).toEqual([long(' {123456789xyz\n')]);
    expect(s.end()).toBeUndefined();
  });

  it('holds an unterminated line only while it may be a message: one that does not start with { goes out as it comes', () => {
    const s = new LineSplitter(10);
    expect(s.push('  ')).toEqual([]);
    expect(s.push(' x')).toEqual([long('   x')]);
    expect(s.push('yz')).toEqual([long('yz')]);
    expect(s.push('\n{"a"')).toEqual([long('\n')]);
    expect(s.push(':1}\nplain\n')).toEqual([line('{"a":1}'), line('plain')]);
    expect(s.push('tail')).toEqual([long('tail')]);
    expect(s.end()).toBeUndefined();
  });

  it('keeps a line of exactly the bound a line', () => {
    const s = new LineSplitter(10);
    expect(s.push('{1234')).toEqual([]);
    expect(s.push('56789\n')).toEqual([line('{123456789')]);
  });

  it('does work linear in what it is given: an 8 MiB line in 1 KiB pieces (re-scanning what it held took 46 s here)', () => {
    const s = new LineSplitter();
    const piece = 'x'.repeat(1024);
    const started = performance.now();
    expect(s.push(`{${piece.slice(1)}`).length).toBe(0);
    for (let i = 1; i < 8 * 1024 - 1; i++) expect(s.push(piece).length).toBe(0);
    const [whole] = s.push(`${piece.slice(1)}\n`);
    const ms = performance.now() - started;
    expect(whole).toEqual({ type: 'line', line: `{${'x'.repeat(8 * 1024 * 1024 - 2)}` });
    // Linear work takes a few ms here; the bound is far from both, for a busy machine.
    expect(ms).toBeLessThan(2000);
  });
});

describe('createClaudeSink', () => {
  /** A sink over a real chunker, and everything it logged: output text and messages, in order. */
  function sink(maxLineChars?: number) {
    const logged: Array<[string, string | number]> = [];
    let outputChars = 0;
    const chunker = new OutputChunker({
      coalesceMs: 1_000_000,
      partialLineMs: 1_000_000,
      maxChunkChars: 500,
      emit: (chunks) => {
        for (const c of chunks) {
          outputChars += c.text.length;
          const last = logged.at(-1);
          if (last?.[0] === c.stream) last[1] = `${last[1]}${c.text}`;
          else logged.push([c.stream, c.text]);
        }
      },
    });
    const s = createClaudeSink(chunker, (message, bytes) => logged.push([message.type, bytes]), maxLineChars);
    return { s, logged, outputChars: () => outputChars, dispose: () => chunker.dispose() };
  }

  it('passes a line longer than the bound on as output before its newline comes, and parses the messages after it', () => {
    const { s, logged, outputChars } = sink(1000);
    s.write('STDOUT', Buffer.from('{"type":"system"}\n'));
    for (let i = 0; i < 100; i++) s.write('STDOUT', Buffer.from('x'.repeat(100)));
    // 10,000 characters written, no newline: all but what the chunker holds (under 500 partial, under 500 pending) is out already.
    expect(outputChars()).toBeGreaterThanOrEqual(10_000 - 1000);
    s.write('STDOUT', Buffer.from('y\n{"type":"result"}\n'));
    s.end();
    expect(logged).toEqual([
      ['system', 18],
      ['STDOUT', `${'x'.repeat(10_000)}y\n`],
      ['result', 18],
    ]);
  });
});

describe('claudeEventOf', () => {
  it("takes the assistant's text and the first tool it uses", () => {
    const message = {
      type: 'assistant',
      message: {
        content: [
          { type: 'text', text: 'Let me look. ' },
          { type: 'tool_use', name: 'Bash', input: {} },
          { type: 'text', text: 'Ok' },
        ],
      },
    };
    expect(claudeEventOf(message, at)).toEqual({
      type: 'claude',
      messageType: 'assistant',
      subtype: null,
      text: 'Let me look. Ok',
      toolName: 'Bash',
      message,
      at,
    });
  });
  it('gives "" as text for messages without any', () => {
    expect(claudeEventOf(result, at)).toMatchObject({ messageType: 'result', subtype: 'success', text: '', toolName: null });
  });
});

describe('ClaudeRun summary', () => {
  it('takes session and model from init, the rest from the result', () => {
    const summary = foldClaudeMessage(foldClaudeMessage(EMPTY_CLAUDE_SUMMARY, init), result);
    expect(summary).toEqual({
      sessionId: 's-1',
      model: 'claude-x',
      result: 'Done.\nMore.',
      isError: false,
      numTurns: 2,
      totalCostUsd: 0.5,
      durationMs: 1200,
      resultSubtype: 'success',
    });
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
    expect(
      claudeLines(
        ev({
          type: 'assistant',
          message: {
            content: [
              { type: 'text', text: 'a\nb' },
              { type: 'tool_use', name: 'Read', input: { file_path: 'x' } },
            ],
          },
        }),
      ),
    ).toEqual([
      { stream: 'stdout', line: 'a' },
      { stream: 'stdout', line: 'b' },
      { stream: 'stdout', line: '[tool] Read {"file_path":"x"}' },
    ]);
    expect(claudeLines(ev({ type: 'user', message: { content: [{ type: 'tool_result', content: 'boom', is_error: true }] } }))).toEqual([
      { stream: 'stderr', line: '[tool result] boom' },
    ]);
    expect(claudeLines(ev(result))).toEqual([{ stream: 'stdout', line: '[result] success · 2 turns · $0.5000' }]);
  });
});
