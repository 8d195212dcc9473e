/** The project registry: which projects exist and whether commands can run in them. */

export type ProjectStatus = 'READY' | 'STARTING' | 'NOT_READY' | 'MISSING';

/** A project as clients see it. */
export interface Project {
  id: string;
  status: ProjectStatus;
  statusMessage: string | null;
  /** Pod name; null for the local backend. */
  pod: string | null;
  /** The working directory commands run in. */
  workspace: string;
}

/** Whether the registry can answer: `/ready` reports it. */
export interface Readiness {
  ready: boolean;
  reason: string | null;
}

/** Source of projects; the local one reads a config file, the kube one watches pods. */
export interface ProjectRegistry {
  list(): Project[];
  get(id: string): Project | undefined;
  readiness(): Readiness;
  /** Calls `listener` with a project whose status changed; returns the unsubscribe function. */
  onChange(listener: (project: Project) => void): () => void;
  close(): Promise<void>;
}
