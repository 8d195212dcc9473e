import { StringDecoder } from 'node:string_decoder';
import type { OutputStream } from './types.js';

/** One coalesced piece of output: whole lines, except a partial line held too long or flushed at the end. */
export interface OutputChunk {
  stream: OutputStream;
  text: string;
}

/** How output is coalesced. */
export interface ChunkerOptions {
  /** Receives chunks in the order their bytes arrived (across streams). */
  emit: (chunks: OutputChunk[]) => void;
  /**
   * How long bytes may wait to be coalesced with more before they are emitted. Whole lines that come
   * after a quiet spell this long (nothing emitted meanwhile) are emitted at once.
   * @default 10
   */
  coalesceMs?: number;
  /**
   * How long an unterminated line waits for its newline before it is emitted as it is.
   * @default 200
   */
  partialLineMs?: number;
  /**
   * The most text one chunk carries; a single longer line is split at this size.
   * @default 65536
   */
  maxChunkChars?: number;
}

/** Splits `text` after its last newline: [whole lines, rest]. */
export function splitAtLastNewline(text: string): [string, string] {
  const cut = text.lastIndexOf('\n') + 1;
  return [text.slice(0, cut), text.slice(cut)];
}

/** True for the first code unit of a UTF-16 surrogate pair. */
function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * Splits `text` into pieces of at most `max` UTF-16 code units (`max` ≥ 2), cutting after a newline where one is
 * in range, and never inside a surrogate pair: half a pair would be written out as U+FFFD, changing the bytes.
 */
export function splitAtLines(text: string, max: number): string[] {
  const pieces: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const nl = rest.lastIndexOf('\n', max - 1);
    const cut = nl >= 0 ? nl + 1 : isHighSurrogate(rest.charCodeAt(max - 1)) ? max - 1 : max;
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) pieces.push(rest);
  return pieces;
}

/**
 * Coalesces a command's stdout/stderr bytes into few, line-aligned chunks: a million short lines
 * become a few hundred chunks, while a slow trickle is emitted within `coalesceMs`.
 */
export class OutputChunker {
  private readonly decoders = { STDOUT: new StringDecoder('utf8'), STDERR: new StringDecoder('utf8') };
  private readonly partial = { STDOUT: '', STDERR: '' };
  private readonly partialSince = { STDOUT: 0, STDERR: 0 };
  private pending: OutputChunk[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  /** When chunks were last emitted (`Date.now()`). */
  private lastEmitAt = 0;
  private disposed = false;
  private readonly coalesceMs: number;
  private readonly partialLineMs: number;
  private readonly maxChunkChars: number;

  constructor(private readonly options: ChunkerOptions) {
    this.coalesceMs = options.coalesceMs ?? 10;
    this.partialLineMs = options.partialLineMs ?? 200;
    this.maxChunkChars = options.maxChunkChars ?? 65536;
  }

  /** Takes bytes the command wrote on `stream`. */
  write(stream: OutputStream, bytes: Buffer | string): void {
    const text = typeof bytes === 'string' ? bytes : this.decoders[stream].write(bytes);
    if (text.length === 0) return;
    const [lines, rest] = splitAtLastNewline(this.partial[stream] + text);
    // A new unterminated line starts its clock; one still growing keeps the clock it had.
    if (rest !== '' && (lines !== '' || this.partial[stream] === '')) this.partialSince[stream] = Date.now();
    this.partial[stream] = rest;
    if (lines) this.queue(stream, lines);
    if (rest.length >= this.maxChunkChars) {
      this.queue(stream, rest);
      this.partial[stream] = '';
    }
    if (this.pendingChars >= this.maxChunkChars) this.flush(false);
    else this.schedule();
  }

  /** Emits the whole lines held now (something else is about to be logged after them). */
  drain(): void {
    if (this.pending.length > 0) this.flush(false);
  }

  /** Emits everything held, partial lines included (the command has ended). */
  end(): void {
    for (const stream of ['STDOUT', 'STDERR'] as const) {
      const tail = this.partial[stream] + this.decoders[stream].end();
      this.partial[stream] = '';
      if (tail) this.queue(stream, tail);
    }
    this.flush(true);
  }

  /** Drops what is held and emits nothing more (the reader detached; what it held will be read again). */
  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    this.pendingChars = 0;
  }

  private queue(stream: OutputStream, text: string): void {
    const last = this.pending.at(-1);
    if (last && last.stream === stream) last.text += text;
    else this.pending.push({ stream, text });
    this.pendingChars += text.length;
  }

  private schedule(): void {
    // Whole lines after a quiet spell (nothing emitted for `coalesceMs`) have nothing to be coalesced
    // with yet: they go at once (still after the bytes already read this turn), not `coalesceMs` later.
    const now = Date.now();
    const holding = this.pending.length === 0 ? this.partialLineMs : now - this.lastEmitAt >= this.coalesceMs ? 0 : this.coalesceMs;
    const due = now + holding;
    // A timer already due soon enough stays; one waiting for a partial line gives way to whole lines.
    if (this.timer && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      // After a busy spell the timer can fire before the poll phase reads bytes already in the pipe;
      // flushing in the check phase lets those arrive first, so a line is not cut just for being late.
      setImmediate(() => {
        this.timer = undefined;
        this.flush(false);
      });
    }, holding);
  }

  private flush(final: boolean): void {
    if (this.disposed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!final) {
      const now = Date.now();
      for (const stream of ['STDOUT', 'STDERR'] as const) {
        if (this.partial[stream] && now - this.partialSince[stream] >= this.partialLineMs) {
          this.queue(stream, this.partial[stream]);
          this.partial[stream] = '';
        }
      }
    }
    const chunks = this.pending.flatMap((c) => splitAtLines(c.text, this.maxChunkChars).map((text) => ({ stream: c.stream, text })));
    this.pending = [];
    this.pendingChars = 0;
    if (chunks.length > 0) {
      this.lastEmitAt = Date.now();
      this.options.emit(chunks);
    }
    if (!final && (this.partial.STDOUT || this.partial.STDERR)) this.schedule();
  }
}
