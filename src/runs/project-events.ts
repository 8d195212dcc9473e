import { EventEmitter, on } from 'node:events';
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
  /** Live events of one project until `signal` aborts. */
  subscribe(projectId: string, signal: AbortSignal): AsyncIterable<ProjectEvent>;
  /** How many subscribers are listening now (to `projectId`'s events, when given). */
  subscriberCount(projectId?: string): number;
}

export function createProjectEvents(): ProjectEvents {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let subscribers = 0;
  const perProject = new Map<string, number>();
  return {
    publish(event) {
      emitter.emit(event.projectId, event);
    },
    async *subscribe(projectId, signal) {
      subscribers++;
      perProject.set(projectId, (perProject.get(projectId) ?? 0) + 1);
      try {
        for await (const [event] of on(emitter, projectId, { signal }) as AsyncIterable<[ProjectEvent]>) yield event;
      } catch (err) {
        if (!signal.aborted) throw err;
      } finally {
        subscribers--;
        const left = (perProject.get(projectId) ?? 1) - 1;
        if (left > 0) perProject.set(projectId, left);
        else perProject.delete(projectId);
      }
    },
    subscriberCount: (projectId) => (projectId === undefined ? subscribers : (perProject.get(projectId) ?? 0)),
  };
}
