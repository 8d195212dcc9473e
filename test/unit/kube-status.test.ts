import { describe, expect, it } from 'vitest';
import { connectFailure, execEnding } from '../../src/exec/kube-status.js';

// Status frames as the API server sends them on channel 3 (see REFERENCE.md §1).
const SUCCESS = { metadata: {}, status: 'Success' };
const nonZero = (code: string) => ({
  metadata: {},
  status: 'Failure',
  message: `command terminated with non-zero exit code: error executing command [sh -c exit ${code}], exit code ${code}`,
  reason: 'NonZeroExitCode',
  details: { causes: [{ reason: 'ExitCode', message: code }] },
});

describe('execEnding', () => {
  it('maps a Success status to exit code 0', () => {
    expect(execEnding({ status: SUCCESS, closeCode: 1000 })).toEqual({ type: 'exit', exitCode: 0 });
  });

  it('maps NonZeroExitCode to the ExitCode cause', () => {
    expect(execEnding({ status: nonZero('3'), closeCode: 1000 })).toEqual({ type: 'exit', exitCode: 3 });
  });

  it('keeps a signal death as 128 + n', () => {
    expect(execEnding({ status: nonZero('137'), closeCode: 1000 })).toEqual({ type: 'exit', exitCode: 137 });
  });

  it('fails when NonZeroExitCode carries no usable exit code', () => {
    const status = { ...nonZero('x'), details: { causes: [{ reason: 'ExitCode', message: 'many' }] } };
    expect(execEnding({ status })).toEqual({
      type: 'failed',
      reason:
        'the exec ended with a non-zero exit status but no exit code: command terminated with non-zero ' +
        'exit code: error executing command [sh -c exit x], exit code x',
    });
  });

  it('fails with the message when the pod could not start the command (InternalError)', () => {
    const status = {
      status: 'Failure',
      reason: 'InternalError',
      code: 500,
      message: 'OCI runtime exec failed: exec failed: unable to start container process: exec: "sh": executable file not found in $PATH: unknown',
    };
    expect(execEnding({ status })).toEqual({
      type: 'failed',
      reason:
        'the pod could not run the command: OCI runtime exec failed: exec failed: unable to start container ' +
        'process: exec: "sh": executable file not found in $PATH: unknown',
    });
  });

  it('is closed when the socket closed without a status, naming the close code', () => {
    expect(execEnding({ status: null, closeCode: 1006 })).toEqual({
      type: 'closed',
      reason: 'the connection to the pod closed without an exit status (WebSocket close code 1006)',
    });
  });

  it('is closed with the error when the socket failed', () => {
    expect(execEnding({ closeCode: 1006, error: 'read ECONNRESET' })).toEqual({
      type: 'closed',
      reason: 'the connection to the pod closed without an exit status: read ECONNRESET',
    });
  });
});

describe('connectFailure', () => {
  it('names a missing pod', () => {
    expect(connectFailure('claudebox-demo-0', 'Unexpected server response: 404')).toBe('pod claudebox-demo-0 not found (404)');
  });

  it('explains a 403 with the RBAC the exec needs', () => {
    expect(connectFailure('p-0', 'Unexpected server response: 403')).toBe(
      'not allowed to exec into pod p-0 (403 Forbidden: needs get and create on pods/exec)',
    );
  });

  it('says a 400 usually means the container is not running', () => {
    expect(connectFailure('p-0', 'Unexpected server response: 400')).toBe('pod p-0 refused the exec (400 Bad Request: is the container running?)');
  });

  it('keeps a network error as it is', () => {
    expect(connectFailure('p-0', 'connect ECONNREFUSED 127.0.0.1:6443')).toBe(
      'cannot reach the Kubernetes API to exec into pod p-0: connect ECONNREFUSED 127.0.0.1:6443',
    );
  });
});
