import { ApiError } from '../errors.js';
import { ANONYMOUS_ADMIN, type Identity } from './identity.js';
import type { TokenSet } from './tokens.js';

/** Where a request's credentials are. */
export interface Credentials {
  /** The `Authorization` header. */
  authorization?: string | undefined;
  /** `?access_token=`, accepted on SSE routes only (a browser EventSource cannot send headers). */
  accessToken?: string | undefined;
}

export class UnauthenticatedError extends ApiError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message, { http: { status: 401, headers: { 'www-authenticate': 'Bearer realm="rdev-api"' } } });
  }
}

/** The caller of a request: the token's identity; everyone is the anonymous admin when `tokens` is null (auth off). */
export function authenticate(tokens: TokenSet | null, credentials: Credentials): Identity {
  if (tokens === null) return ANONYMOUS_ADMIN;
  const header = credentials.authorization;
  let token: string | undefined;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new UnauthenticatedError('the Authorization header must be "Bearer <token>"');
    token = match[1];
  } else {
    token = credentials.accessToken;
  }
  if (!token) throw new UnauthenticatedError('a token is required: send "Authorization: Bearer <token>"');
  const identity = tokens.find(token);
  if (!identity) throw new UnauthenticatedError('the token is not valid');
  return identity;
}
