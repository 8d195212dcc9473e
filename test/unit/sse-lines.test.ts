import { describe, expect, it } from 'vitest';
import { sseFrame } from '../../src/rest/sse-frame.js';
import { carryBefore, LineRenderer, parseLastEventId } from '../../src/rest/sse-lines.js';
import { linesOf } from '../../src/rest/text-lines.js';
import type { CommandEvent } from '../../src/runs/types.js';

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

describe('LineRenderer', () => {
  it('makes one output event per line with seq.line ids', () => {
    expect(new LineRenderer().frames({ type: 'output', seq: 4, stream: 'STDERR', text: 'x\ny\n', at })).toEqual([
      { event: 'output', id: '4.0', data: { stream: 'stderr', line: 'x' } },
      { event: 'output', id: '4.1', data: { stream: 'stderr', line: 'y' } },
    ]);
  });
  it('skips lines already sent', () => {
    expect(new LineRenderer().frames({ type: 'output', seq: 4, stream: 'STDOUT', text: 'x\ny\nz\n', at }, 1).map((f) => f.id)).toEqual(['4.2']);
  });
  it('makes the complete event the seed clients read', () => {
    expect(
      new LineRenderer({ stream_id: 'c1' }).frames({
        type: 'completed',
        seq: 9,
        status: 'FAILED',
        exitCode: 2,
        durationMs: 15,
        error: 'exited with code 2',
        at,
      }),
    ).toEqual([{ event: 'complete', id: '9', data: { stream_id: 'c1', exit_code: 2, duration_ms: 15, status: 'failed', error: 'exited with code 2' } }]);
  });
});

describe('LineRenderer with partial lines', () => {
  const events: CommandEvent[] = [
    { type: 'output', seq: 1, stream: 'STDOUT', text: 'a\nb', at },
    { type: 'output', seq: 2, stream: 'STDERR', text: 'e', at },
    { type: 'output', seq: 3, stream: 'STDOUT', text: 'c', at },
    { type: 'output', seq: 4, stream: 'STDOUT', text: 'd\ne\n', at },
    { type: 'completed', seq: 5, status: 'SUCCEEDED', exitCode: 0, durationMs: 1, error: null, at },
  ];
  const render = (r: LineRenderer, from = 0, skip = -1) =>
    events
      .slice(from)
      .flatMap((e, k) => r.frames(e, k === 0 ? skip : -1))
      .map((f) => `${f.id} ${f.event === 'output' ? `${f.data.stream}:${f.data.line}` : 'complete'}`);

  it('sends a line split across events once, when it is complete; tails at the end', () => {
    expect(render(new LineRenderer())).toEqual(['1.0 stdout:a', '4.0 stdout:bcd', '4.1 stdout:e', '5.0 stderr:e', '5 complete']);
  });

  it('a resume rebuilds the carried tails from the log and continues exactly', async () => {
    const read = async (after: number, limit: number) => events.filter((e) => e.seq > after).slice(0, limit);
    // Resume after "4.0": re-read event 4 with the tails before it.
    const resumed = render(new LineRenderer({}, await carryBefore(read, 4)), 3, 0);
    expect(resumed).toEqual(['4.1 stdout:e', '5.0 stderr:e', '5 complete']);
  });
});

describe('LineRenderer.text', () => {
  // Quotes, backslashes, a tab and a control character, CRLF and a lone CR, a lone surrogate and a pair, non-ASCII, empty lines, partial lines.
  const texts = ['a\r\nb"c\\d\te\u0001f\n', 'x\ud800y\n\n', 'plain\nli', 'ne\n', 'é😀\n', 'p\rq\u007f\u0085\n', '', 'no newline'];
  const events: CommandEvent[] = [
    ...texts.map((text, k): CommandEvent => ({ type: 'output', seq: k + 1, stream: k % 3 === 2 ? 'STDERR' : 'STDOUT', text, at })),
    { type: 'completed', seq: texts.length + 1, status: 'SUCCEEDED', exitCode: 0, durationMs: 1, error: null, at },
  ];

  for (const extra of [{}, { stream_id: 'c1' }]) {
    for (const skip of [-1, 0, 1]) {
      it(`is the frames written one by one (extra ${JSON.stringify(extra)}, skip through ${skip})`, () => {
        const [framed, written] = [new LineRenderer(extra), new LineRenderer(extra)];
        for (const e of events) {
          const expected = framed
            .frames(e, skip)
            .map((f) => sseFrame(f.event, f.data, `c1/${f.id}`))
            .join('');
          expect(written.text(e, skip, 'c1/'), JSON.stringify(e)).toBe(expected);
        }
      });
    }
  }

  it('writes a line as the seed clients read it', () => {
    expect(new LineRenderer().text({ type: 'output', seq: 3, stream: 'STDOUT', text: 'say "hi"\n', at })).toBe(
      'id: 3.0\nevent: output\ndata: {"stream":"stdout","line":"say \\"hi\\""}\n\n',
    );
  });
});
