import { describe, expect, it } from 'vitest';
import { framesOf, linesOf, parseLastEventId } from '../../src/rest/sse-lines.js';

const at = new Date(0);

describe('linesOf', () => {
  it('splits at newlines, drops the final empty piece and trailing \\r', () => {
    expect(linesOf('a\r\n\nb\n')).toEqual(['a', '', 'b']);
    expect(linesOf('tail')).toEqual(['tail']);
  });
});

describe('parseLastEventId', () => {
  it('reads seq and line', () => {
    expect(parseLastEventId('12.3')).toEqual({ seq: 12, line: 3 });
    expect(parseLastEventId('12')).toEqual({ seq: 12, line: -1 });
  });
  it('refuses what this server never sent', () => {
    expect(parseLastEventId('abc')).toBeUndefined();
    expect(parseLastEventId('1.2.3')).toBeUndefined();
  });
});

describe('framesOf', () => {
  it('makes one output event per line with seq.line ids', () => {
    expect(framesOf({ type: 'output', seq: 4, stream: 'STDERR', text: 'x\ny\n', at })).toEqual([
      { event: 'output', id: '4.0', data: { stream: 'stderr', line: 'x' } },
      { event: 'output', id: '4.1', data: { stream: 'stderr', line: 'y' } },
    ]);
  });
  it('skips lines already sent', () => {
    expect(framesOf({ type: 'output', seq: 4, stream: 'STDOUT', text: 'x\ny\nz\n', at }, 1).map((f) => f.id)).toEqual(['4.2']);
  });
  it('makes the complete event the seed clients read', () => {
    expect(framesOf({ type: 'completed', seq: 9, status: 'FAILED', exitCode: 2, durationMs: 15, error: 'exited with code 2', at }, -1, { stream_id: 'c1' })).toEqual([
      { event: 'complete', id: '9', data: { stream_id: 'c1', exit_code: 2, duration_ms: 15, status: 'failed', error: 'exited with code 2' } },
    ]);
  });
});
