import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ERROR_HTTP_STATUS, type ErrorCode } from '../errors.js';

/** The envelope's `meta` (seed release notes): a request id and the time of the answer. */
export function meta(requestId: string): { request_id: string; timestamp: string } {
  return { request_id: requestId, timestamp: new Date().toISOString() };
}

/** Answers `{"data": …, "meta": …}`. */
export function sendData(res: ServerResponse, status: number, data: unknown, requestId: string): void {
  send(res, status, { data, meta: meta(requestId) });
}

/** Answers `{"error": {"code", "message", …}, "meta": …}`. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, requestId: string, extra: Record<string, unknown> = {}): void {
  send(res, status, { error: { code, message, ...extra }, meta: meta(requestId) });
}

/** Answers an {@link ApiError} with its code's HTTP status, anything else as a 500 whose details stay in the log. */
export function sendFailure(res: ServerResponse, err: unknown, requestId: string): void {
  if (err instanceof ApiError) {
    const { code: _code, http: _http, ...extra } = err.extensions as Record<string, unknown>;
    sendError(res, ERROR_HTTP_STATUS[err.code], err.code, err.message, requestId, extra);
  } else {
    sendError(res, 500, 'INTERNAL', 'internal error; see the server log for request ' + requestId, requestId);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** A REST error that carries its code; thrown by handlers, answered by the router. */
export class HttpError extends ApiError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

/** Reads a JSON object body of at most `maxBytes`; 413 past it, 400 when it is not a JSON object. */
export async function readJsonObject(req: IncomingMessage, maxBytes: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) throw new HttpError('PAYLOAD_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError('PAYLOAD_TOO_LARGE', `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new HttpError('BAD_USER_INPUT', 'request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new HttpError('BAD_USER_INPUT', 'request body must be a JSON object');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError('BAD_USER_INPUT', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError('BAD_USER_INPUT', 'request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** The request id: the caller's `X-Request-Id` when it is sane, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : randomUUID();
}
