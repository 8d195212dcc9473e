/**
 * The seam between the run manager and where commands really run. The local executor spawns
 * child processes; the Kubernetes executor execs into pods over WebSocket. Neither knows GraphQL.
 */

/** Where a command runs: a project's workspace, and its pod for the Kubernetes backend. */
export interface ExecTarget {
  projectId: string;
  /** Absolute path of the workspace (on this machine for local, inside the pod for kube). */
  workspace: string;
  /** Pod name (kube backend only). */
  pod?: string | null;
}

/** One command to run. */
export interface ExecRequest {
  target: ExecTarget;
  /** Program and arguments; never joined into a shell line by the executor. */
  argv: string[];
  /** Directory relative to the workspace ("" for the workspace itself); already validated. */
  workdir: string;
  /** Bytes for the command's stdin, which is then closed; with none, stdin is closed at once. */
  stdin?: string | Uint8Array | undefined;
  /** Extra environment variables. */
  env?: Record<string, string> | undefined;
  /** Receives output as it arrives, in arrival order. */
  onOutput: (stream: 'STDOUT' | 'STDERR', bytes: Buffer) => void;
  /** Aborting stops the command and everything it started (its whole process group). */
  signal: AbortSignal;
}

/** How a command ended, as far as the executor could see. */
export type ExecOutcome =
  /** The main process exited with this code (128 + n for a signal n). */
  | { type: 'exited'; exitCode: number }
  /** It was stopped because `signal` aborted. */
  | { type: 'aborted' }
  /** The executor lost track of it (connection dropped, pod gone); `reason` in words. */
  | { type: 'lost'; reason: string };

/** Runs commands. `run` resolves when the command has ended and all its output was delivered. */
export interface Executor {
  run(request: ExecRequest): Promise<ExecOutcome>;
  /** Releases what the executor holds (sockets, processes still running are killed). */
  close(): Promise<void>;
}
