import type { CommandKind, CommandStatus } from '../runs/types.js';
import { createRotatingFile } from './rotating-file.js';

/** One line of the audit log: a command accepted (and later finished) or refused. */
export interface AuditEntry {
  /** Position in the log (1, 2, 3, …, per server run). */
  seq: number;
  at: Date;
  /** ACCEPTED when the command was started (its final state is filled in when it ends), REFUSED otherwise. */
  decision: 'ACCEPTED' | 'REFUSED';
  /** Token name of the caller. */
  caller: string;
  projectId: string;
  kind: CommandKind;
  argv: string[];
  commandId: string | null;
  /** Why it was refused: the error code and message. */
  refusal: { code: string; message: string } | null;
  status: CommandStatus | null;
  exitCode: number | null;
  /** Every byte the command wrote, both streams, dropped output included. */
  outputBytes: number | null;
  /**
   * sha256 of those bytes, each stream's only up to `RDEV_MAX_OUTPUT_BYTES` (past it the spool frees
   * them while the command runs), in the order they were read; null until the end, and null at the end
   * when the server that finished the command adopted it from another (a restart, a take-over): it did
   * not read the bytes before, and a hash's state cannot be stored (see `OutputMeter`).
   */
  outputSha256: string | null;
  finishedAt: Date | null;
}

/** The audit log: appended as JSON lines to a file in the data directory, the recent part kept for queries. */
export interface AuditLog {
  accepted(e: { caller: string; projectId: string; kind: CommandKind; argv: string[]; commandId: string }): void;
  refused(e: { caller: string; projectId: string; kind: CommandKind; argv: string[]; code: string; message: string }): void;
  finished(e: { commandId: string; status: CommandStatus; exitCode: number | null; outputBytes: number; outputSha256: string | null }): void;
  /** Recent entries, newest first, with `seq < before`. */
  list(options: { before?: number; limit: number }): Promise<AuditEntry[]>;
  /** Resolves once what was recorded so far is written (tests, shutdown). */
  flushed?(): Promise<void>;
  /** Writes what is pending and lets go of the file. */
  close?(): Promise<void>;
}

/** A new entry's fields but its place in the log (`seq`, `at`): not finished yet. */
export type NewAuditEntry = Omit<AuditEntry, 'seq' | 'at' | 'finishedAt'> & { finishedAt: null };

const UNFINISHED = { status: null, exitCode: null, outputBytes: null, outputSha256: null, finishedAt: null } as const;

/** The entry of an accepted command, as every audit log records it. */
export function acceptedEntry(e: Parameters<AuditLog['accepted']>[0]): NewAuditEntry {
  return { decision: 'ACCEPTED', refusal: null, ...UNFINISHED, ...e };
}

/** The entry of a refused request, as every audit log records it. */
export function refusedEntry(e: Parameters<AuditLog['refused']>[0]): NewAuditEntry {
  const { code, message, ...rest } = e;
  return { decision: 'REFUSED', commandId: null, ...UNFINISHED, ...rest, refusal: { code, message } };
}

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  /** The JSON-lines file (`<data dir>/audit.log`). */
  file: string;
  /** Entries kept in memory for `auditLog` (`RDEV_AUDIT_MEMORY_ENTRIES`). */
  memoryEntries: number;
  /** The file is rotated before it grows past this many bytes (`RDEV_AUDIT_MAX_BYTES`; 0: never). */
  maxBytes: number;
  /**
   * Rotated files kept beside it (`audit.log.1` the newest).
   * @default 3
   */
  keepFiles?: number | undefined;
  /** A write failed (those lines are lost; the entries stay in memory). */
  onError?: ((err: Error) => void) | undefined;
}

/**
 * An audit log appending to a file (one JSON object per line), without blocking the event loop:
 * lines are queued and written in order, and the file is rotated by size. The newest
 * `memoryEntries` entries are kept in memory for `auditLog`.
 */
export function createAuditLog(o: AuditLogOptions): AuditLog & Required<Pick<AuditLog, 'flushed' | 'close'>> {
  const keep = o.memoryEntries;
  const out = createRotatingFile(o.file, { maxBytes: o.maxBytes, keepFiles: o.keepFiles, onError: o.onError });
  const recent: AuditEntry[] = [];
  const byCommand = new Map<string, AuditEntry>();
  let seq = 0;
  const write = (record: Record<string, unknown>): void => out.append(JSON.stringify(record));
  const add = (entry: AuditEntry): void => {
    recent.push(entry);
    if (entry.commandId) byCommand.set(entry.commandId, entry);
    if (recent.length > keep) {
      const old = recent.shift()!;
      if (old.commandId) byCommand.delete(old.commandId);
    }
    write({ event: entry.decision === 'ACCEPTED' ? 'accepted' : 'refused', ...entry });
  };
  return {
    accepted(e) {
      add({ seq: ++seq, at: new Date(), ...acceptedEntry(e) });
    },
    refused(e) {
      add({ seq: ++seq, at: new Date(), ...refusedEntry(e) });
    },
    finished(e) {
      const entry = byCommand.get(e.commandId);
      const finishedAt = new Date();
      if (entry) Object.assign(entry, { status: e.status, exitCode: e.exitCode, outputBytes: e.outputBytes, outputSha256: e.outputSha256, finishedAt });
      write({ event: 'finished', at: finishedAt, ...e });
    },
    async list({ before, limit }) {
      const page: AuditEntry[] = [];
      for (let i = recent.length - 1; i >= 0 && page.length < limit; i--) if (before === undefined || recent[i]!.seq < before) page.push(recent[i]!);
      return page;
    },
    flushed: () => out.flushed(),
    close: () => out.close(),
  };
}
