import { EventEmitter } from 'node:events';
import { ApiError } from '../errors.js';
import type { Project } from '../projects/registry.js';
import type { Command, CommandEvent } from './types.js';

/** What `projectEvents` carries: every event names the command (or project) it is about. */
export type ProjectEvent =
  /** A command of the project was queued, started or finished. */
  | { type: 'command-status'; projectId: string; command: Command }
  /** One event of a command's log (output or completion). */
  | { type: 'command-event'; projectId: string; commandId: string; event: CommandEvent }
  /** The project's own status changed (a pod became ready or unready, or disappeared). */
  | { type: 'project-status'; projectId: string; project: Project };

/** Fan-out of live project events to subscribers; it keeps no history. */
export interface ProjectEvents {
  publish(event: ProjectEvent): void;
  /**
   * Live events of one project until `signal` aborts. Each subscriber has a queue of at most
   * `maxQueued` events it has not taken yet; one that falls further behind gets what its queue
   * holds, then a {@link SlowSubscriberError} (publishing never waits for a subscriber, and no
   * subscriber holds the others back or the server's memory hostage).
   */
  subscribe(projectId: string, signal: AbortSignal): AsyncIterable<ProjectEvent>;
  /** How many subscribers are listening now (to `projectId`'s events, when given). */
  subscriberCount(projectId?: string): number;
}

/** Options of {@link createProjectEvents}. */
export interface ProjectEventsOptions {
  /**
   * Events one subscriber may have waiting (`RDEV_MAX_SUBSCRIBER_BACKLOG`); past it, it is ended.
   * @default 1000
   */
  maxQueued?: number;
}

/** A subscriber fell more than `maxQueued` events behind and was ended (`SLOW_SUBSCRIBER`); it may subscribe again. */
export class SlowSubscriberError extends ApiError {
  constructor(maxQueued: number) {
    super(
      'SLOW_SUBSCRIBER',
      `this subscription fell more than ${maxQueued} events behind and was ended: subscribe again (commandEvents with \`after\` replays a command's events)`,
      { maxQueued },
    );
  }
}

export function createProjectEvents(options: ProjectEventsOptions = {}): ProjectEvents {
  const maxQueued = options.maxQueued ?? 1000;
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let subscribers = 0;
  const perProject = new Map<string, number>();
  return {
    publish(event) {
      emitter.emit(event.projectId, event);
    },
    async *subscribe(projectId, signal) {
      // Events not taken yet are queue[head..]; the slots before head are spent.
      let queue: Array<ProjectEvent | undefined> = [];
      let head = 0;
      let overflowed = false;
      let wake: (() => void) | undefined;
      const listener = (event: ProjectEvent): void => {
        if (overflowed) return;
        if (queue.length - head >= maxQueued) overflowed = true;
        else queue.push(event);
        wake?.();
      };
      const onAbort = (): void => wake?.();
      emitter.on(projectId, listener);
      signal.addEventListener('abort', onAbort, { once: true });
      subscribers++;
      perProject.set(projectId, (perProject.get(projectId) ?? 0) + 1);
      try {
        while (!signal.aborted) {
          if (head < queue.length) {
            const event = queue[head]!;
            queue[head++] = undefined;
            if (head === queue.length) [queue, head] = [[], 0];
            else if (head >= maxQueued) [queue, head] = [queue.slice(head), 0];
            yield event;
            continue;
          }
          if (overflowed) throw new SlowSubscriberError(maxQueued);
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        emitter.off(projectId, listener);
        signal.removeEventListener('abort', onAbort);
        subscribers--;
        const left = (perProject.get(projectId) ?? 1) - 1;
        if (left > 0) perProject.set(projectId, left);
        else perProject.delete(projectId);
      }
    },
    subscriberCount: (projectId) => (projectId === undefined ? subscribers : (perProject.get(projectId) ?? 0)),
  };
}
