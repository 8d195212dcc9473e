import { createClient } from 'graphql-sse';
import { COMMAND_EVENTS } from '../api/client.js';

/** A `commandEvents` event as the resuming subscriber keeps it (the fields of `EVENT_FIELDS`). */
export type Event = { __typename: string; seq: number; stream?: string; text?: string; type?: string; status?: string; exitCode?: number | null };

/**
 * A graphql-sse subscriber that resumes with `after` (the last seq it holds) on whichever server
 * `url()` names whenever its stream breaks (the server was killed, restarted, or was a replica
 * that went away), until CommandCompleted; gives up after `attempts` connections.
 */
export function resumingSubscriber(url: () => string, id: string, attempts = 200): { events: Event[]; done: Promise<void> } {
  const events: Event[] = [];
  const done = (async () => {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const client = createClient({ url: `${url()}/graphql/stream`, retryAttempts: 0 });
      try {
        for await (const result of client.iterate({ query: COMMAND_EVENTS, variables: { id, after: events.at(-1)?.seq ?? 0 } })) {
          if (result.errors) throw new Error(JSON.stringify(result.errors));
          events.push(result.data!.commandEvents as Event);
        }
        if (events.at(-1)?.__typename === 'CommandCompleted') return;
      } catch {
        // its server went away under it: try again
      } finally {
        client.dispose();
      }
      await new Promise((r) => setTimeout(r, 100)); // reconnect pacing, as a client's backoff
    }
    throw new Error('the subscriber never saw CommandCompleted');
  })();
  return { events, done };
}
