import type { CommandStatus } from './types.js';

/** How a command's process ended, as far as the server could see. */
export type RunEnding =
  /** The supervisor recorded this exit code (128 + n for a signal n). */
  | { type: 'exited'; exitCode: number }
  /** The command is gone without an exit record; `reason` in words. */
  | { type: 'lost'; reason: string };

/** Why the run manager stopped a command itself, if it did. */
export type StopReason = 'cancel' | 'timeout' | 'idle' | 'shutdown';

/** A command's final status, exit code and error, from how it ended. */
export interface FinalState {
  status: CommandStatus;
  exitCode: number | null;
  error: string | null;
}

/**
 * Maps how a command ended to its final state (DESIGN.md): a stop the manager asked for wins over
 * whatever the process did meanwhile; exit 0 is SUCCEEDED, any other exit FAILED with the code as
 * data; an executor that lost the command makes it LOST.
 */
export function finalState(outcome: RunEnding, stop: StopReason | null, timeoutSeconds: number, idleSeconds = 0): FinalState {
  if (stop === 'cancel') return { status: 'CANCELED', exitCode: null, error: null };
  if (stop === 'timeout') return { status: 'TIMED_OUT', exitCode: null, error: `timed out after ${timeoutSeconds}s` };
  if (stop === 'idle') return { status: 'TIMED_OUT', exitCode: null, error: `no output for ${idleSeconds}s: the process stopped writing and was stopped` };
  if (stop === 'shutdown') return { status: 'LOST', exitCode: null, error: 'server shut down while the command was running' };
  switch (outcome.type) {
    case 'exited':
      return outcome.exitCode === 0
        ? { status: 'SUCCEEDED', exitCode: 0, error: null }
        : { status: 'FAILED', exitCode: outcome.exitCode, error: `exited with code ${outcome.exitCode}` };
    case 'lost':
      return { status: 'LOST', exitCode: null, error: outcome.reason };
  }
}

/** A Claude run that exited: SUCCEEDED only with a result message that is not an error (DESIGN.md). */
export function claudeFinalState(state: FinalState, failure: string | null): FinalState {
  if (state.status !== 'SUCCEEDED' && state.status !== 'FAILED') return state;
  if (failure === null) return state;
  return { status: 'FAILED', exitCode: state.exitCode, error: failure };
}
