import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { CommandKind, CommandStatus } from '../runs/types.js';

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
  outputBytes: number | null;
  outputSha256: string | null;
  finishedAt: Date | null;
}

/** The audit log: appended as JSON lines to a file in the data directory, the recent part kept for queries. */
export interface AuditLog {
  accepted(e: { caller: string; projectId: string; kind: CommandKind; argv: string[]; commandId: string }): void;
  refused(e: { caller: string; projectId: string; kind: CommandKind; argv: string[]; code: string; message: string }): void;
  finished(e: { commandId: string; status: CommandStatus; exitCode: number | null; outputBytes: number; outputSha256: string }): void;
  /** Recent entries, newest first, with `seq < before`. */
  list(options: { before?: number; limit: number }): Promise<AuditEntry[]>;
}

/** An audit log appending to `file` (one JSON object per line, all of it); keeps the newest `keep` entries in memory for `auditLog`. */
export function createAuditLog(file: string, keep = 2_000): AuditLog {
  mkdirSync(path.dirname(file), { recursive: true });
  const recent: AuditEntry[] = [];
  const byCommand = new Map<string, AuditEntry>();
  let seq = 0;
  const write = (record: Record<string, unknown>): void => appendFileSync(file, JSON.stringify(record) + '\n');
  const add = (entry: AuditEntry): void => {
    recent.push(entry);
    if (entry.commandId) byCommand.set(entry.commandId, entry);
    if (recent.length > keep) {
      const old = recent.shift()!;
      if (old.commandId) byCommand.delete(old.commandId);
    }
    write({ event: entry.decision === 'ACCEPTED' ? 'accepted' : 'refused', ...entry });
  };
  const base = { status: null, exitCode: null, outputBytes: null, outputSha256: null, finishedAt: null };
  return {
    accepted(e) {
      add({ seq: ++seq, at: new Date(), decision: 'ACCEPTED', refusal: null, ...base, ...e });
    },
    refused(e) {
      add({ seq: ++seq, at: new Date(), decision: 'REFUSED', commandId: null, ...base, caller: e.caller, projectId: e.projectId, kind: e.kind, argv: e.argv, refusal: { code: e.code, message: e.message } });
    },
    finished(e) {
      const entry = byCommand.get(e.commandId);
      const finishedAt = new Date();
      if (entry) Object.assign(entry, { status: e.status, exitCode: e.exitCode, outputBytes: e.outputBytes, outputSha256: e.outputSha256, finishedAt });
      write({ event: 'finished', at: finishedAt, ...e });
    },
    async list({ before, limit }) {
      const out: AuditEntry[] = [];
      for (let i = recent.length - 1; i >= 0 && out.length < limit; i--) if (before === undefined || recent[i]!.seq < before) out.push(recent[i]!);
      return out;
    },
  };
}
