import { describe, expect, it, vi } from 'vitest';
import { OutputChunker, splitAtLastNewline, splitAtLines, type OutputChunk } from '../../src/runs/chunker.js';

function collector(options: { coalesceMs?: number; partialLineMs?: number; maxChunkChars?: number } = {}) {
  const batches: OutputChunk[][] = [];
  const chunker = new OutputChunker({ ...options, emit: (c) => batches.push(c) });
  return { chunker, batches, all: () => batches.flat() };
}

describe('splitAtLastNewline', () => {
  it('keeps whole lines apart from the unterminated rest', () => {
    expect(splitAtLastNewline('a\nb\nc')).toEqual(['a\nb\n', 'c']);
    expect(splitAtLastNewline('a\n')).toEqual(['a\n', '']);
    expect(splitAtLastNewline('abc')).toEqual(['', 'abc']);
  });
});

describe('splitAtLines', () => {
  it('cuts after the last newline that fits', () => {
    expect(splitAtLines('aa\nbb\ncc\n', 7)).toEqual(['aa\nbb\n', 'cc\n']);
  });
  it('cuts a single line longer than the maximum at the maximum', () => {
    expect(splitAtLines('abcdefgh', 3)).toEqual(['abc', 'def', 'gh']);
  });
  it('cuts before a surrogate pair that the maximum would split', () => {
    expect(splitAtLines('ab😀cd', 3)).toEqual(['ab', '😀c', 'd']);
  });
});

describe('OutputChunker', () => {
  it('coalesces many short lines into one chunk', async () => {
    const { chunker, batches } = collector({ coalesceMs: 20 });
    for (let i = 0; i < 1000; i++) chunker.write('STDOUT', Buffer.from(`line ${i}\n`));
    await vi.waitFor(() => expect(batches.length).toBeGreaterThan(0), { timeout: 10_000 });
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(1);
    expect(batches[0]![0]!.text.split('\n')).toHaveLength(1001);
  });

  it('emits a slow trickle within the coalescing window', async () => {
    const { chunker, all } = collector({ coalesceMs: 5 });
    chunker.write('STDOUT', Buffer.from('first\n'));
    await vi.waitFor(() => expect(all()).toEqual([{ stream: 'STDOUT', text: 'first\n' }]), { timeout: 10_000 });
  });

  it('holds an unterminated line until its newline arrives', async () => {
    const { chunker, all } = collector({ coalesceMs: 5, partialLineMs: 1000 });
    chunker.write('STDOUT', Buffer.from('hel'));
    // Several coalescing windows pass (a held line would have been emitted by now)...
    await new Promise((r) => setTimeout(r, 30));
    expect(all()).toEqual([]);
    // ...and the line goes out once its newline arrives, without the unterminated rest.
    chunker.write('STDOUT', Buffer.from('lo\nwor'));
    await vi.waitFor(() => expect(all()).toEqual([{ stream: 'STDOUT', text: 'hello\n' }]), { timeout: 10_000 });
  });

  it('emits an unterminated line that waited longer than partialLineMs', async () => {
    const { chunker, all } = collector({ coalesceMs: 5, partialLineMs: 30 });
    chunker.write('STDOUT', Buffer.from('Password: '));
    await vi.waitFor(() => expect(all()).toEqual([{ stream: 'STDOUT', text: 'Password: ' }]), { timeout: 10_000 });
  });

  it('keeps the order of stdout and stderr as they arrived', () => {
    const { chunker, all } = collector();
    chunker.write('STDOUT', Buffer.from('o1\n'));
    chunker.write('STDERR', Buffer.from('e1\n'));
    chunker.write('STDOUT', Buffer.from('o2\n'));
    chunker.write('STDOUT', Buffer.from('o3\n'));
    chunker.end();
    expect(all()).toEqual([
      { stream: 'STDOUT', text: 'o1\n' },
      { stream: 'STDERR', text: 'e1\n' },
      { stream: 'STDOUT', text: 'o2\no3\n' },
    ]);
  });

  it('never splits a multi-byte character across chunks', () => {
    const { chunker, all } = collector();
    const bytes = Buffer.from('héllo wörld\n');
    for (const b of bytes) chunker.write('STDOUT', Buffer.from([b]));
    chunker.end();
    expect(
      all()
        .map((c) => c.text)
        .join(''),
    ).toBe('héllo wörld\n');
  });

  it('never cuts a surrogate pair at the 64 Ki cut of a long line: the bytes arrive exactly as written', () => {
    const { chunker, all } = collector();
    // An emoji (4 UTF-8 bytes, 2 UTF-16 code units) across the cut at 65536 code units, then one
    // across the next cut; the bytes go in as the pipe may deliver them, the emoji's bytes split too.
    const written = Buffer.from(`${'x'.repeat(65535)}😀${'y'.repeat(65534)}🎉tail`);
    const bounds = [0, 10, 65530, 65537, 65538, 131000, 131076, written.length];
    for (let i = 1; i < bounds.length; i++) chunker.write('STDOUT', written.subarray(bounds[i - 1], bounds[i]));
    chunker.end();
    const chunks = all();
    // Each chunk is well-formed text (a lone surrogate would become U+FFFD, 3 bytes) within the bound.
    for (const c of chunks) {
      expect(Buffer.from(c.text, 'utf8').toString('utf8')).toBe(c.text);
      expect(c.text.length).toBeLessThanOrEqual(65536);
    }
    expect(Buffer.concat(chunks.map((c) => Buffer.from(c.text, 'utf8'))).equals(written)).toBe(true);
    // What the run counts to move its spool offsets matches the bytes.
    expect(chunks.reduce((n, c) => n + Buffer.byteLength(c.text), 0)).toBe(written.length);
  });

  it('keeps multi-byte characters whole whatever the write boundaries, past several cuts', () => {
    // 4 code units a repetition, 999 a chunk: the cuts fall everywhere in it.
    const { chunker, all } = collector({ maxChunkChars: 999 });
    const written = Buffer.from('€😀a'.repeat(5000));
    for (let at = 0; at < written.length; at += 777) chunker.write('STDOUT', written.subarray(at, at + 777));
    chunker.end();
    const chunks = all();
    for (const c of chunks) expect(Buffer.from(c.text, 'utf8').toString('utf8')).toBe(c.text);
    expect(Buffer.concat(chunks.map((c) => Buffer.from(c.text, 'utf8'))).equals(written)).toBe(true);
  });

  it('splits output past maxChunkChars at line boundaries and flushes at once', () => {
    const { chunker, batches } = collector({ maxChunkChars: 10 });
    chunker.write('STDOUT', Buffer.from('aaaa\nbbbb\ncccc\n'));
    expect(batches.flat()).toEqual([
      { stream: 'STDOUT', text: 'aaaa\nbbbb\n' },
      { stream: 'STDOUT', text: 'cccc\n' },
    ]);
  });

  it('emits the unterminated tail at the end', () => {
    const { chunker, all } = collector();
    chunker.write('STDERR', Buffer.from('no newline'));
    chunker.end();
    expect(all()).toEqual([{ stream: 'STDERR', text: 'no newline' }]);
  });
});
