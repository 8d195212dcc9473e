import { createClient, type Client } from 'graphql-sse';
import { COMMAND_EVENTS, type CompletedFollowEvent, type FollowEvent } from './operations.js';

/** Where the server is and who asks. */
export interface ApiOptions {
  /** The server, e.g. `http://127.0.0.1:8080` (RDEV_URL). */
  url: string;
  /** A token of the server's RDEV_TOKENS_FILE (RDEV_TOKEN); none: the server has authentication off. */
  token?: string | undefined;
  /**
   * How long a lost event stream is retried, with backoff, before {@link ConnectionLostError}.
   * @default 60000
   */
  reconnectMs?: number;
  /** Told once per outage that the stream was lost and is being regained. */
  onReconnecting?: (error: unknown) => void;
}

/** The server answered with an error (an unknown id, bad input, no permission): not worth retrying. */
export class RefusedError extends Error {
  override name = 'RefusedError';
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/** The server could not be reached, or stayed away longer than the reconnect window. */
export class ConnectionLostError extends Error {
  override name = 'ConnectionLostError';
}

interface GraphQLErrorLike {
  message: string;
  extensions?: { code?: string };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function refusal(errors: readonly GraphQLErrorLike[]): RefusedError {
  const first = errors[0]!;
  return new RefusedError(first.message, first.extensions?.code);
}

/** The GraphQL API as `rdev` uses it: queries and mutations over fetch, command events over graphql-sse. */
export class Api {
  private readonly client: Client;
  private readonly headers: Record<string, string>;

  constructor(private readonly o: ApiOptions) {
    this.headers = o.token ? { authorization: `Bearer ${o.token}` } : {};
    // Distinct connections, no retries of its own: a retry must resume `after` the last event seen,
    // which only the caller knows (see follow).
    this.client = createClient({ url: `${o.url.replace(/\/+$/, '')}/graphql/stream`, headers: this.headers, retryAttempts: 0 });
  }

  /** Runs a query or mutation; throws {@link RefusedError} for GraphQL errors, {@link ConnectionLostError} when nothing answers. */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.o.url.replace(/\/+$/, '')}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...this.headers },
        body: JSON.stringify({ query, variables }),
      });
    } catch (err) {
      throw new ConnectionLostError(`cannot reach ${this.o.url}: ${causeOf(err)}`);
    }
    const text = await res.text();
    let body: { data?: T | null; errors?: GraphQLErrorLike[] };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RefusedError(`${res.status} ${res.statusText}: ${text.slice(0, 200)}`, undefined);
    }
    if (body.errors?.length) throw refusal(body.errors);
    if (!body.data) throw new RefusedError(`${res.status} ${res.statusText}: no data`, undefined);
    return body.data;
  }

  /**
   * Replays a command's events after `after`, then follows it live until its CommandCompleted,
   * which it returns. A stream that breaks or ends early (the server restarted, the network went
   * away) is resumed after the last event seen, so no event is lost or repeated; past
   * {@link ApiOptions.reconnectMs} without an event it throws {@link ConnectionLostError}.
   */
  async follow(id: string, after: number, onEvent: (event: FollowEvent) => void, signal?: AbortSignal): Promise<CompletedFollowEvent> {
    let last = after;
    let lostSince: number | null = null;
    let delay = 250;
    for (;;) {
      let failure: unknown = 'the stream ended before the command did';
      try {
        const events = this.client.iterate<{ commandEvents: FollowEvent }>({ query: COMMAND_EVENTS, variables: { id, after: last } });
        const stop = (): void => void events.return?.();
        signal?.addEventListener('abort', stop, { once: true });
        try {
          for await (const result of events) {
            if (result.errors?.length) throw refusal(result.errors as readonly GraphQLErrorLike[]);
            const event = result.data!.commandEvents;
            last = event.seq;
            lostSince = null;
            delay = 250;
            onEvent(event);
            if (event.__typename === 'CommandCompleted') return event;
          }
        } finally {
          signal?.removeEventListener('abort', stop);
        }
      } catch (err) {
        if (err instanceof RefusedError) throw err;
        // graphql-sse hands GraphQL errors over as an array, and an HTTP refusal as an Error.
        if (Array.isArray(err) && err.length > 0 && typeof err[0]?.message === 'string') throw refusal(err as GraphQLErrorLike[]);
        const status = (err as { response?: { status?: number } } | null)?.response?.status;
        if (status !== undefined && status >= 400 && status < 500)
          throw new RefusedError(`${status}: ${(err as Error).message}`, status === 401 ? 'UNAUTHENTICATED' : undefined);
        failure = err;
      }
      if (signal?.aborted) throw new ConnectionLostError('stopped');
      if (lostSince === null) {
        lostSince = Date.now();
        this.o.onReconnecting?.(failure);
      }
      if (Date.now() - lostSince > (this.o.reconnectMs ?? 60_000))
        throw new ConnectionLostError(`lost the stream of ${id} and could not regain it: ${causeOf(failure)}`);
      await sleep(delay);
      delay = Math.min(delay * 2, 2000);
    }
  }
}

/** A network error's cause in words ("fetch failed" says little). */
export function causeOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? err.message;
  }
  return String(err);
}
