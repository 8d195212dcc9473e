import { describe, expect, it } from 'vitest';
import { finalState } from '../../src/runs/status.js';

describe('finalState', () => {
  it('exit 0 is SUCCEEDED', () => {
    expect(finalState({ type: 'exited', exitCode: 0 }, null, 60)).toEqual({ status: 'SUCCEEDED', exitCode: 0, error: null });
  });
  it('another exit is FAILED with the code as data', () => {
    expect(finalState({ type: 'exited', exitCode: 3 }, null, 60)).toEqual({ status: 'FAILED', exitCode: 3, error: 'exited with code 3' });
  });
  it('a cancel wins over the exit the kill caused', () => {
    expect(finalState({ type: 'exited', exitCode: 143 }, 'cancel', 60)).toEqual({ status: 'CANCELED', exitCode: null, error: null });
  });
  it('a timeout is TIMED_OUT with the limit in words', () => {
    expect(finalState({ type: 'exited', exitCode: 143 }, 'timeout', 5)).toEqual({ status: 'TIMED_OUT', exitCode: null, error: 'timed out after 5s' });
  });
  it('a lost command is LOST with the reason', () => {
    expect(finalState({ type: 'lost', reason: 'pod deleted' }, null, 60)).toEqual({ status: 'LOST', exitCode: null, error: 'pod deleted' });
  });
  it('a shutdown is LOST', () => {
    expect(finalState({ type: 'exited', exitCode: 137 }, 'shutdown', 60)).toEqual({
      status: 'LOST',
      exitCode: null,
      error: 'server shut down while the command was running',
    });
  });
});
