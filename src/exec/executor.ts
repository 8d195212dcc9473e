/**
 * The seam between the run manager and where commands really run. The local executor spawns
 * processes on this machine; the Kubernetes executor execs into pods over WebSocket. Neither
 * knows GraphQL.
 *
 * Every command runs under a supervisor (`supervisor.ts`) that lives in the workspace, not in the
 * server: the command outlives the server process and its connections. The server {@link
 * Executor.start}s it once, then {@link Executor.attach}es to its spool by byte offset as often as
 * it needs (a cut connection, a restarted server, another replica), and {@link Executor.signal}s its
 * recorded process group to cancel it. The spool directory of a command is
 * `<spool dir>/<command id>`; the executor knows the spool dir.
 */

/** Where a command runs: a project's workspace, and its pod for the Kubernetes backend. */
export interface ExecTarget {
  projectId: string;
  /** Absolute path of the workspace (on this machine for local, inside the pod for kube). */
  workspace: string;
  /** Pod name (kube backend only). */
  pod?: string | null;
}

/** Identifies one supervised command: its target and its id (which names its spool directory). */
export interface SupervisedRef {
  target: ExecTarget;
  /** The command id; `[A-Za-z0-9-]+`, so it is safe as a directory name. */
  commandId: string;
}

/** One command to start. */
export interface StartRequest extends SupervisedRef {
  /** Program and arguments; never joined into a shell line by the executor. */
  argv: string[];
  /** Directory relative to the workspace ("" for the workspace itself); already validated. */
  workdir: string;
  /** Bytes for the command's stdin (written to the spool's `stdin` file first); with none, stdin is empty. */
  stdin?: string | Uint8Array | undefined;
  /** Extra environment variables. */
  env?: Record<string, string> | undefined;
}

/** What the supervisor recorded when it started the command. */
export interface Started {
  /**
   * The command's process group id (in the pod's or this machine's pid namespace); null when the
   * start was refused inside the workspace (a workdir it cannot enter): then the spool already
   * holds exit 125 and the reason on stderr, and an attach reads them as for any command.
   */
  pgid: number | null;
}

/** How far a reader has consumed each spool file, in bytes. */
export interface Offsets {
  stdout: number;
  stderr: number;
}

/** Follow a supervised command's output from byte offsets. */
export interface AttachRequest extends SupervisedRef {
  /** Bytes of each stream already consumed: delivery starts right after them. */
  offsets: Offsets;
  /**
   * Receives output as it is read, in order within each stream. Across the two streams the order
   * is the order the reader saw them, which need not be the order they were written.
   */
  onOutput: (stream: 'STDOUT' | 'STDERR', bytes: Buffer) => void;
  /** Aborting detaches: the reader stops; the command runs on. */
  signal: AbortSignal;
}

/** How an attachment ended. */
export type AttachOutcome =
  /** The supervisor recorded this exit code (128 + n for a signal n), and every byte of both streams was delivered. */
  | { type: 'exited'; exitCode: number }
  /** `signal` aborted; the command may still run. */
  | { type: 'detached' }
  /** The connection to the command broke (exec socket cut, API server away) while it may still run: attach again. */
  | { type: 'disconnected'; reason: string }
  /** The command is gone for good, `reason` in words: the pod was deleted, or the supervisor died without an exit record. */
  | { type: 'lost'; reason: string };

/**
 * Runs supervised commands. Contract for every implementation:
 * - `start` resolves once the supervisor has recorded the process group; the command then runs
 *   whatever happens to the server. A start that fails rejects (nothing runs).
 * - `attach` may be called any number of times, from any server, with the offsets a previous
 *   reader reached; it resolves `exited` only after the exit record exists and both streams have
 *   been delivered to their end.
 * - `signal` reaches the recorded group whoever started it; a group that is already gone is not an error.
 */
export interface Executor {
  start(request: StartRequest): Promise<Started>;
  attach(request: AttachRequest): Promise<AttachOutcome>;
  /** Sends `signal` to the command's process group; rejects if the workspace cannot be reached. */
  signal(ref: SupervisedRef, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Deletes the command's spool directory (its output is in the history). */
  remove(ref: SupervisedRef): Promise<void>;
  /** Releases what the executor holds (sockets, timers); supervised commands run on. */
  close(): Promise<void>;
}
