import type { CommandStore } from './command-store.js';
import type { Command } from './types.js';

/** A Claude conversation of a project, as its latest run left it. */
export interface ClaudeSessionInfo {
  sessionId: string;
  /** The newest run of the session. */
  lastCommand: Command;
  /** The first line of the newest result, if a run has finished with one. */
  lastResult: string | null;
  /** How many runs of the session are among the ones looked at. */
  runs: number;
}

/** How many of a project's newest Claude runs are looked at to find its sessions. */
const SCAN = 1000;

/** A project's recent Claude sessions, newest first (by their newest run). */
export async function recentClaudeSessions(store: CommandStore, projectId: string, limit: number): Promise<ClaudeSessionInfo[]> {
  const sessions = new Map<string, ClaudeSessionInfo>();
  for (const command of await store.list({ projectId, kind: 'CLAUDE', limit: SCAN })) {
    const id = command.claude?.sessionId;
    if (!id) continue;
    const seen = sessions.get(id);
    if (seen) {
      seen.runs++;
      if (seen.lastResult === null && command.claude?.result) seen.lastResult = firstLine(command.claude.result);
    } else {
      if (sessions.size >= limit) continue;
      sessions.set(id, { sessionId: id, lastCommand: command, lastResult: command.claude?.result ? firstLine(command.claude.result) : null, runs: 1 });
    }
  }
  return [...sessions.values()];
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]!.trim();
}
