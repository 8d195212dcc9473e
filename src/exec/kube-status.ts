/**
 * How one Kubernetes exec ended, in our terms. Pure, so every path is unit-tested: the
 * `metav1.Status` of the remotecommand status channel (v4/v5), or a socket that closed without
 * one. No `@kubernetes/client-node` import: the Status is read through a structural type.
 *
 * @see https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apimachinery/pkg/util/remotecommand/constants.go
 */

/** The fields of a `metav1.Status` that the status channel uses. */
export interface StatusLike {
  status?: string | undefined;
  reason?: string | undefined;
  message?: string | undefined;
  code?: number | undefined;
  /** A cause's type is serialised under the JSON key `reason` (`StatusCause.Type`). */
  details?: { causes?: Array<{ reason?: string | undefined; message?: string | undefined }> | undefined } | undefined;
}

/** What the executor observed about one exec stream, once its socket has closed. */
export interface ExecEnd {
  /** The Status that arrived on channel 3, if any. */
  status?: StatusLike | null;
  /** WebSocket close code (1006: closed without a close frame). */
  closeCode?: number | null;
  /** Why the socket went away when it was not a close from the server: an error, no pong... */
  error?: string | null;
}

/** How the exec's process ended, as far as the status channel told. */
export type ExecEnding =
  /** The process exited with this code (the exec's own process: a script of `supervisor.ts` or `supervisor-follow.ts`). */
  | { type: 'exit'; exitCode: number }
  /** The pod could not run the process, or the status made no sense: the reason in words. */
  | { type: 'failed'; reason: string }
  /** No status: the connection closed first (cut, API server away, no pongs). */
  | { type: 'closed'; reason: string };

/**
 * Decides the ending, first match wins: a `Success` Status (exit 0); a `NonZeroExitCode` Status
 * (its `ExitCode` cause); another Failure Status (`failed`); no Status at all (`closed`).
 */
export function execEnding(end: ExecEnd): ExecEnding {
  const status = end.status;
  if (status) {
    if (status.status === 'Success') return { type: 'exit', exitCode: 0 };
    if (status.reason === 'NonZeroExitCode') {
      const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
      const code = cause?.message !== undefined && /^\d{1,3}$/.test(cause.message) ? Number(cause.message) : NaN;
      if (code >= 0 && code <= 255) return { type: 'exit', exitCode: code };
      return { type: 'failed', reason: `the exec ended with a non-zero exit status but no exit code: ${status.message ?? 'no message'}` };
    }
    const words = status.message || status.reason || `status ${status.status ?? 'unknown'}`;
    return { type: 'failed', reason: `the pod could not run the command: ${words}` };
  }
  const why = end.error ? `: ${end.error}` : end.closeCode ? ` (WebSocket close code ${end.closeCode})` : '';
  return { type: 'closed', reason: `the connection to the pod closed without an exit status${why}` };
}

/**
 * Words for an exec WebSocket that could not be opened. `ws` reports an HTTP answer to the
 * upgrade as "Unexpected server response: <code>".
 */
export function connectFailure(pod: string, message: string): string {
  const code = /Unexpected server response: (\d{3})/.exec(message)?.[1];
  switch (code) {
    case undefined:
      return `cannot reach the Kubernetes API to exec into pod ${pod}: ${message}`;
    case '400':
      return `pod ${pod} refused the exec (400 Bad Request: is the container running?)`;
    case '401':
      return `the Kubernetes API refused our credentials (401 Unauthorized)`;
    case '403':
      return `not allowed to exec into pod ${pod} (403 Forbidden: needs get and create on pods/exec)`;
    case '404':
      return `pod ${pod} not found (404)`;
    default:
      return `the Kubernetes API answered the exec into pod ${pod} with HTTP ${code}`;
  }
}
