import { GraphQLError } from 'graphql';

/** The error codes clients rely on (DESIGN.md), with the HTTP status the REST shims answer. */
export const ERROR_HTTP_STATUS = {
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  PROJECT_NOT_READY: 409,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  TOO_MANY_COMMANDS: 429,
  QUERY_TOO_COMPLEX: 400,
  RATE_LIMITED: 429,
  PAYLOAD_TOO_LARGE: 413,
  /** A live subscriber fell too far behind and was ended (mid-stream: the status only matters before it starts). */
  SLOW_SUBSCRIBER: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_HTTP_STATUS;

/** An expected error: its message and `extensions.code` reach the client unmasked. */
export class ApiError extends GraphQLError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    extensions: Record<string, unknown> = {},
  ) {
    super(message, { extensions: { code, ...extensions } });
  }
}

/** Bad input: names the field (a dotted path such as `input.timeoutSeconds`) and the rule it broke. */
export class BadUserInputError extends ApiError {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super('BAD_USER_INPUT', `${field}: ${reason}`, { field, reason });
  }
}

export class NotFoundError extends ApiError {
  constructor(what: 'project' | 'command', id: string) {
    super('NOT_FOUND', `${what} ${JSON.stringify(id)} not found`, { [`${what}Id`]: id });
  }
}

export class ProjectNotReadyError extends ApiError {
  constructor(projectId: string, status: string, message: string | null) {
    super('PROJECT_NOT_READY', `project ${projectId} is ${status}${message ? `: ${message}` : ''}`, { projectId, status });
  }
}

export class TooManyCommandsError extends ApiError {
  constructor(limit: number) {
    super('TOO_MANY_COMMANDS', `too many commands waiting (at most ${limit} may be queued); try again when some have finished`, { limit });
  }
}

/** True for errors whose message may be shown to clients. */
export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}
