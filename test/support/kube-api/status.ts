/**
 * `metav1.Status` bodies as the Kubernetes API server writes them.
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';

/** A `metav1.Status` object (only the fields this server uses). */
export interface KubeStatus {
  kind?: 'Status';
  apiVersion?: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; kind?: string; causes?: Array<{ reason: string; message: string }> };
  code?: number;
}

const reasons: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  410: 'Expired',
  500: 'InternalError',
};

/** Builds the Status of a failed API call, e.g. `failureStatus(404, 'pods "x" not found', {name: 'x', kind: 'pods'})`. */
export function failureStatus(code: number, message: string, details?: KubeStatus['details']): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: reasons[code] ?? 'Unknown',
    details: details ?? {},
    code,
  };
}

/** Builds the `pods "<name>" not found` Status. */
export function podNotFound(name: string): KubeStatus {
  return failureStatus(404, `pods "${name}" not found`, { name, kind: 'pods' });
}

/** Writes a Status as an HTTP JSON response. */
export function sendStatus(res: ServerResponse, status: KubeStatus): void {
  sendJson(res, status.code ?? 500, status);
}

/** Writes any value as an `application/json` response. */
export function sendJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers an upgrade request with a plain HTTP error (no upgrade happens) and ends the socket. */
export function rejectUpgrade(socket: Duplex, status: KubeStatus): void {
  const code = status.code ?? 500;
  const body = JSON.stringify(status);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Error'}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/**
 * The Status the kubelet writes on the exec status channel when the command ends
 * (kubelet `ServeExec`): Success for 0, `NonZeroExitCode` with an `ExitCode` cause otherwise.
 */
export function execExitStatus(argv: readonly string[], exitCode: number): KubeStatus {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${argv.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}
