import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../src/audit/audit-log.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'rdev-audit-'));
  dirs.push(dir);
  return path.join(dir, 'audit.log');
}
const read = (file: string): string => (existsSync(file) ? readFileSync(file, 'utf8') : '');
const commands = (text: string): string[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { commandId: string }).commandId);
const accept = (i: number) => ({ caller: 'c', projectId: 'p', kind: 'SHELL' as const, argv: ['sh', '-c', `echo ${i}`], commandId: `cmd-${i}` });

describe('the audit log file', () => {
  it("never writes on the caller's turn of the event loop: an entry reaches the file afterwards, whole", async () => {
    const file = tempFile();
    const log = createAuditLog({ file, memoryEntries: 10, maxBytes: 0 });
    log.accepted(accept(1));
    // appendFileSync had it on disk by now.
    expect(read(file)).toBe('');
    await log.flushed();
    expect(commands(read(file))).toEqual(['cmd-1']);
    await log.close();
  });

  it('keeps the order of the entries across many writes', async () => {
    const file = tempFile();
    const log = createAuditLog({ file, memoryEntries: 10, maxBytes: 0 });
    for (let i = 0; i < 2000; i++) {
      log.accepted(accept(i));
      if (i % 300 === 0) await new Promise((r) => setImmediate(r));
    }
    await log.close();
    expect(commands(read(file))).toEqual(Array.from({ length: 2000 }, (_, i) => `cmd-${i}`));
  });

  it('rotates by size: audit.log and the newest rotated files, each within the bound, the oldest lines gone', async () => {
    const file = tempFile();
    const maxBytes = 2000;
    const log = createAuditLog({ file, memoryEntries: 10, maxBytes, keepFiles: 2 });
    for (let i = 0; i < 200; i++) log.accepted(accept(i));
    await log.close();
    expect(readdirSync(path.dirname(file)).sort()).toEqual(['audit.log', 'audit.log.1', 'audit.log.2']);
    for (const f of [file, `${file}.1`, `${file}.2`]) expect(statSync(f).size).toBeLessThanOrEqual(maxBytes);
    const kept = commands(read(`${file}.2`) + read(`${file}.1`) + read(file));
    // The newest lines, in order, without a gap.
    const first = Number(kept[0]!.slice('cmd-'.length));
    expect(first).toBeGreaterThan(0);
    expect(kept).toEqual(Array.from({ length: 200 - first }, (_, i) => `cmd-${first + i}`));
  });

  it('goes on after a restart from the size the file has', async () => {
    const file = tempFile();
    const first = createAuditLog({ file, memoryEntries: 10, maxBytes: 1000 });
    for (let i = 0; i < 5; i++) first.accepted(accept(i));
    await first.close();
    const second = createAuditLog({ file, memoryEntries: 10, maxBytes: 1000 });
    for (let i = 5; i < 12; i++) second.accepted(accept(i));
    await second.close();
    // About 170 bytes a line: the first run's size counted, the second rotated twice; three rotated files keep every line.
    const files = [`${file}.3`, `${file}.2`, `${file}.1`, file];
    for (const f of files.filter(existsSync)) expect(statSync(f).size).toBeLessThanOrEqual(1000);
    expect(existsSync(`${file}.2`)).toBe(true);
    expect(commands(files.map(read).join(''))).toEqual(Array.from({ length: 12 }, (_, i) => `cmd-${i}`));
  });

  it('keeps the newest memoryEntries entries for auditLog, newest first', async () => {
    const log = createAuditLog({ file: tempFile(), memoryEntries: 3, maxBytes: 0 });
    for (let i = 0; i < 5; i++) log.accepted(accept(i));
    expect((await log.list({ limit: 10 })).map((e) => e.commandId)).toEqual(['cmd-4', 'cmd-3', 'cmd-2']);
    await log.close();
  });
});
