import { createClient, type Client } from 'graphql-sse';

/** A GraphQL response as it comes over HTTP. */
export interface GqlResult<T = Record<string, unknown>> {
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> }>;
}

/** POSTs one operation to `/graphql` with fetch. */
export async function gql<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<GqlResult<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GqlResult<T>;
}

/** Like {@link gql}, but fails unless there are no errors; returns `data`. */
export async function gqlData<T = Record<string, any>>(url: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const result = await gql<T>(url, query, variables);
  if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data as T;
}

export const RUN_SHELL = `mutation($input: RunShellInput!) { runShell(input: $input) { id status kind argv } }`;

/** Starts `command` with runShell; returns the command id. */
export async function runShell(url: string, projectId: string, command: string, extra: Record<string, unknown> = {}): Promise<string> {
  const data = await gqlData<{ runShell: { id: string } }>(url, RUN_SHELL, { input: { projectId, command, ...extra } });
  return data.runShell.id;
}

export const COMMAND_FIELDS = `id kind argv status exitCode error createdAt startedAt finishedAt durationMs project { id }`;

/** Polls `command(id)` until it is final; returns it. */
export async function waitFinal(url: string, id: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { command } = await gqlData<{ command: Record<string, any> }>(url, `query($id: ID!) { command(id: $id) { ${COMMAND_FIELDS} } }`, { id });
    if (!['QUEUED', 'RUNNING'].includes(command.status)) return command;
    if (Date.now() > deadline) throw new Error(`command ${id} still ${command.status}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls `{ projects }` until `projectId` is READY (a server just started may not have listed it yet). */
export async function untilProjectReady(url: string, projectId = 'demo', timeoutMs = 30_000): Promise<void> {
  await until(
    async () =>
      (await gqlData<{ projects: Array<{ id: string; status: string }> }>(url, '{ projects { id status } }')).projects.some(
        (p) => p.id === projectId && p.status === 'READY',
      ),
    timeoutMs,
    `project ${projectId} to be READY`,
  );
}

/** Polls `predicate` until it is true. */
export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const EVENT_FIELDS = `__typename
  ... on CommandOutput { seq stream text at }
  ... on ClaudeMessage { seq type subtype text toolName message }
  ... on CommandCompleted { seq status exitCode durationMs error }`;

export const COMMAND_EVENTS = `subscription($id: ID!, $after: Int) { commandEvents(id: $id, after: $after) { ${EVENT_FIELDS} } }`;

/** A graphql-sse client for `/graphql/stream` in the given mode. */
export function sseClient(url: string, singleConnection: boolean): Client {
  return createClient({ url: `${url}/graphql/stream`, singleConnection, retryAttempts: 0 });
}

/** Collects every event of a subscription until it completes. */
export async function collect<T = Record<string, any>>(client: Client, query: string, variables: Record<string, unknown>): Promise<T[]> {
  const events: T[] = [];
  for await (const result of client.iterate({ query, variables })) {
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    events.push(Object.values(result.data ?? {})[0] as T);
  }
  return events;
}
