import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { EventLog } from '../src/runs/event-log.js';
import { createMemoryEventLog } from '../src/runs/memory-event-log.js';
import type { NewCommandEvent } from '../src/runs/types.js';
import { openSqliteStore } from '../src/store/sqlite.js';

/**
 * How fast the SQLite event log takes an N-line command's output, against the anchor: the
 * in-memory log. Two shapes of output: what the run manager makes of a fast command (lines
 * coalesced into ~64 KiB chunk texts, one append per chunk) and the worst case, one event per
 * line (a command that trickles, one append per line). SQLite times include the last batch
 * write, so everything counted is committed. A last row shows what batching saves: the same
 * per-line stream with one transaction per append (`flushMs: 0`), on a sample of the lines.
 */

export interface StoreThroughputRow {
  name: string;
  ms: number;
  /** Lines of output the row wrote. */
  lines: number;
  events: number;
  bytes: number;
  eventsPerSecond: number;
  bytesPerSecond: number;
}

const CHUNK_CHARS = 65_536;
/** Lines of the one-transaction-per-append row (it would take minutes on a million). */
const UNBATCHED_SAMPLE = 20_000;

/** `seq 1 N` as the chunker hands it over: whole lines, at most 64 KiB of text per chunk. */
function chunkTexts(lines: number): string[] {
  const chunks: string[] = [];
  let current = '';
  for (let i = 1; i <= lines; i++) {
    const line = `${i}\n`;
    if (current.length + line.length > CHUNK_CHARS) {
      chunks.push(current);
      current = '';
    }
    current += line;
  }
  if (current) chunks.push(current);
  return chunks;
}

const output = (text: string): NewCommandEvent => ({ type: 'output', stream: 'STDOUT', text, at: new Date() });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Appends `texts` one event per append, letting the event loop turn every `turnEvery` appends (timers fire, as in the server). */
async function feed(log: EventLog, texts: string[], turnEvery: number): Promise<void> {
  for (let i = 0; i < texts.length; i++) {
    log.append('cmd-bench', [output(texts[i]!)]);
    if ((i + 1) % turnEvery === 0) await turn();
  }
  log.append('cmd-bench', [{ type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 0, error: null, at: new Date() }]);
}

function row(name: string, ms: number, texts: string[], lines: number): StoreThroughputRow {
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  return { name, ms, lines, events: texts.length + 1, bytes, eventsPerSecond: ((texts.length + 1) / ms) * 1000, bytesPerSecond: (bytes / ms) * 1000 };
}

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export async function storeThroughput(lines: number): Promise<StoreThroughputRow[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'rdev-bench-store-'));
  const chunks = chunkTexts(lines);
  const perLine = Array.from({ length: lines }, (_, i) => `${i + 1}\n`);
  const sample = perLine.slice(0, Math.min(lines, UNBATCHED_SAMPLE));
  const rows: StoreThroughputRow[] = [];
  const sqlite = async (name: string, texts: string[], turnEvery: number, flushMs?: number): Promise<number> => {
    const store = openSqliteStore({ file: path.join(dir, `${name}.db`), ...(flushMs === undefined ? {} : { flushMs }) });
    try {
      return await timed(async () => {
        await feed(store.log, texts, turnEvery);
        store.flush();
      });
    } finally {
      store.close();
    }
  };
  try {
    rows.push(row('anchor: memory log, 64 KiB chunks', await timed(() => feed(createMemoryEventLog(), chunks, 1)), chunks, lines));
    rows.push(row('sqlite log, 64 KiB chunks', await sqlite('chunks', chunks, 1), chunks, lines));

    const store = openSqliteStore({ file: path.join(dir, 'chunks.db') });
    let read = 0;
    const readMs = await timed(async () => {
      for await (const _ of store.log.follow('cmd-bench', 0, new AbortController().signal)) read++;
    });
    store.close();
    if (read !== chunks.length + 1) throw new Error(`replayed ${read} events, wrote ${chunks.length + 1}`);
    rows.push(row('sqlite log, 64 KiB chunks: replay after reopen', readMs, chunks, lines));

    rows.push(row('memory log, one event per line', await timed(() => feed(createMemoryEventLog(), perLine, 100)), perLine, lines));
    rows.push(row('sqlite log, one event per line', await sqlite('lines', perLine, 100), perLine, lines));
    rows.push(
      row(`sqlite log, one event per line, a commit per append (first ${sample.length})`, await sqlite('unbatched', sample, 100, 0), sample, sample.length),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
