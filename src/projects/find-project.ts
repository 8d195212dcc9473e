import type { Project, ProjectRegistry } from './registry.js';

/** How long a lookup waits for a registry that has not listed its projects yet (the kube one, at start). */
const WAIT_FOR_LISTING_MS = 10_000;
const POLL_MS = 25;

/**
 * The project `id`. While the registry is not ready yet (a server that has just started, its pods
 * not listed), waits for it, at most `timeoutMs`: a client that reconnects to a restarting server
 * must not be told that an existing project does not exist (an EventSource gives up on a 404).
 */
export async function findProject(registry: ProjectRegistry, id: string, timeoutMs = WAIT_FOR_LISTING_MS): Promise<Project | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const project = registry.get(id);
    if (project || registry.readiness().ready || Date.now() >= deadline) return project;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
