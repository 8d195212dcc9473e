import { StringDecoder } from 'node:string_decoder';
import type { OutputChunker } from './chunker.js';
import { LineSplitter, parseClaudeLine, type ClaudeStreamMessage, type LinePiece } from './claude-stream.js';
import type { OutputStream } from './types.js';

/** Where an executor's bytes go: into the chunker, or parsed first for a Claude run. */
export interface OutputSink {
  write(stream: OutputStream, bytes: Buffer): void;
  /** The command ended: emit everything held. */
  end(): void;
  /** The reader detached: drop what is held (it was not logged, so it will be read again), emit nothing more. */
  dispose(): void;
}

/**
 * Counts and hashes every byte the process wrote (`meter.read`) before `sink` splits or parses it:
 * what the audit reports is the raw output, whatever kind of run it came from.
 */
export function createMeteredSink(meter: { read(stream: OutputStream, bytes: Uint8Array): void }, sink: OutputSink): OutputSink {
  return {
    write(stream, bytes) {
      meter.read(stream, bytes);
      sink.write(stream, bytes);
    },
    end: () => sink.end(),
    dispose: () => sink.dispose(),
  };
}

/** Plain output: coalesced by the chunker. */
export function createPlainSink(chunker: OutputChunker): OutputSink {
  return { write: (stream, bytes) => chunker.write(stream, bytes), end: () => chunker.end(), dispose: () => chunker.dispose() };
}

/**
 * A Claude run's output: each stdout line that is a stream-json message goes to `onMessage`
 * (after the output before it, so `seq` keeps the order things arrived in); a line that is not
 * JSON, a line longer than `maxLineChars` (see {@link LineSplitter}), and all of stderr stay plain
 * output. A line split across writes is reassembled. The work per write is linear in its size.
 */
export function createClaudeSink(chunker: OutputChunker, onMessage: (message: ClaudeStreamMessage, bytes: number) => void, maxLineChars?: number): OutputSink {
  const decoder = new StringDecoder('utf8');
  const lines = new LineSplitter(maxLineChars);
  const take = (line: string, newline: boolean): void => {
    const message = parseClaudeLine(line);
    if (message) {
      chunker.drain();
      onMessage(message, Buffer.byteLength(line) + (newline ? 1 : 0));
    } else {
      chunker.write('STDOUT', newline ? `${line}\n` : line);
    }
  };
  const takeAll = (pieces: LinePiece[]): void => {
    for (const p of pieces) {
      if (p.type === 'line') take(p.line, true);
      else chunker.write('STDOUT', p.text);
    }
  };
  return {
    write(stream, bytes) {
      if (stream === 'STDERR') chunker.write(stream, bytes);
      else takeAll(lines.push(decoder.write(bytes)));
    },
    end() {
      takeAll(lines.push(decoder.end()));
      const tail = lines.end();
      if (tail !== undefined) take(tail, false);
      chunker.end();
    },
    dispose: () => chunker.dispose(),
  };
}
