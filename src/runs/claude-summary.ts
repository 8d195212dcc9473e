import type { ClaudeStreamMessage } from './claude-stream.js';

/** What a Claude run reported: `Command.claude`. Filled while the run goes on. */
export interface ClaudeSummary {
  sessionId: string | null;
  model: string | null;
  result: string | null;
  isError: boolean | null;
  numTurns: number | null;
  totalCostUsd: number | null;
  /** What the CLI reported in its result message. */
  durationMs: number | null;
  /** The result message's subtype (success, error_max_turns, …), null until it came. */
  resultSubtype: string | null;
}

export const EMPTY_CLAUDE_SUMMARY: Readonly<ClaudeSummary> = Object.freeze({
  sessionId: null,
  model: null,
  result: null,
  isError: null,
  numTurns: null,
  totalCostUsd: null,
  durationMs: null,
  resultSubtype: null,
});

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Folds one stream-json message into the summary; returns the new summary, or the same one if nothing changed. */
export function foldClaudeMessage(summary: ClaudeSummary, m: ClaudeStreamMessage): ClaudeSummary {
  if (m.type === 'system' && m.subtype === 'init') {
    return { ...summary, sessionId: str(m.session_id) ?? summary.sessionId, model: str(m.model) ?? summary.model };
  }
  if (m.type === 'assistant' && summary.model === null && str(m.message?.model)) {
    return { ...summary, model: str(m.message?.model), sessionId: summary.sessionId ?? str(m.session_id) };
  }
  if (m.type === 'result') {
    return {
      ...summary,
      sessionId: str(m.session_id) ?? summary.sessionId,
      result: str(m.result),
      isError: typeof m.is_error === 'boolean' ? m.is_error : null,
      numTurns: num(m.num_turns),
      totalCostUsd: num(m.total_cost_usd),
      durationMs: num(m.duration_ms),
      resultSubtype: str(m.subtype),
    };
  }
  return summary;
}

/**
 * Why an exited Claude run is not SUCCEEDED, or null when it is (DESIGN.md: exit 0 counts only
 * with a result message that is not `is_error`; the CLI can exit 0 without one).
 */
export function claudeFailure(summary: ClaudeSummary, exitCode: number): string | null {
  if (summary.resultSubtype === null) {
    return exitCode === 0 ? 'claude exited with code 0 without a result message' : `claude exited with code ${exitCode} without a result message`;
  }
  if (summary.isError || summary.resultSubtype !== 'success') {
    const first = (summary.result ?? '').split('\n')[0]?.trim();
    return `claude reported an error (${summary.resultSubtype})${first ? `: ${first}` : ''}`;
  }
  return exitCode === 0 ? null : `exited with code ${exitCode}`;
}
