/**
 * Public types of the Kubernetes API test server.
 */
import type { PodPhase } from './pod-object.js';

export type { PodPhase } from './pod-object.js';

/** Options of {@link startKubeApiServer}. */
export interface KubeApiServerOptions {
  /** Bearer token the server accepts (and the kubeconfig carries). @default a random hex string */
  token?: string;
  /** Default namespace of the kubeconfig's context. @default none (clients then use `default`) */
  namespace?: string;
  /** Port to listen on (127.0.0.1). @default 0, a free port */
  port?: number;
  /** Changes remembered for watches resuming from a resourceVersion; older ones get 410 Gone. @default 1000 */
  historyLimit?: number;
}

/** A pod to create with {@link KubeApiServer.addPod}. */
export interface TestPodSpec {
  name: string;
  /** @default 'default' */
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Ready condition (only meaningful while the pod is Running). @default true */
  ready?: boolean;
  /** @default 'Running' */
  phase?: PodPhase;
  /**
   * Container env: shown in the pod spec and set for every exec, over PATH (the host's),
   * HOME (a per-pod temp dir) and HOSTNAME (the pod name). Setting PATH replaces the host's.
   */
  env?: Record<string, string>;
  /** Container names; exec without `container` uses the first. @default ['claudebox'] */
  containers?: string[];
  /** What `GET .../pods/{name}/log` returns. @default '' */
  log?: string;
}

/** Handle on a pod created by {@link KubeApiServer.addPod}. */
export interface TestPod {
  namespace: string;
  name: string;
  uid: string;
  /** Host directory that commands in the pod see as `/workspace` (their cwd). */
  dir: string;
  /** Host directory used as `$HOME` in the pod. */
  homeDir: string;
}

/** One request the server received. */
export interface RequestLogEntry {
  method: string;
  /** URL path without the query, e.g. `/api/v1/namespaces/rdev/pods`. */
  path: string;
  /** The query string with its `?`, or ''. */
  query: string;
  /** True for upgrade requests (exec WebSockets, SPDY attempts). */
  upgrade: boolean;
}

/** A running Kubernetes API test server; see {@link startKubeApiServer}. */
export interface KubeApiServer {
  /** `https://127.0.0.1:<port>`; stays the same across {@link KubeApiServer.restart}. */
  readonly url: string;
  readonly token: string;
  /** A kubeconfig file (context `kube-test`, CA embedded, bearer token) in the server's temp dir. */
  readonly kubeconfigPath: string;
  readonly kubeconfigYaml: string;
  /** Every request received, in order. */
  readonly requests: RequestLogEntry[];
  /** True when execs run in a private mount namespace with the pod dir on /workspace; false: cwd is the pod dir. */
  readonly workspaceMounted: boolean;
  /** The current resourceVersion (as a list would report it). */
  readonly resourceVersion: string;
  /** Creates a pod backed by fresh temp dirs (ADDED on watches). */
  addPod(spec: TestPodSpec): TestPod;
  /** Sets the Ready condition (MODIFIED); `reason` goes on the condition when not ready. */
  setReady(namespace: string, name: string, ready: boolean, reason?: string): void;
  /** Sets `status.phase` and clears any waiting reason (MODIFIED). `Pending` reads as ContainerCreating. */
  setPhase(namespace: string, name: string, phase: PodPhase): void;
  /** Puts every container in `state.waiting` with this reason, or clears it when undefined (MODIFIED). */
  setWaiting(namespace: string, name: string, reason: string | undefined, message?: string): void;
  /** Running, restartCount + 1, containers waiting with CrashLoopBackOff, not ready (MODIFIED). */
  crashLoop(namespace: string, name: string): void;
  /**
   * Deletes the pod at once (DELETED, no Terminating phase), SIGKILLs every process started in it
   * (exec streams then end with exit code 137) and cuts any exec socket still open. Resolves when
   * no process of the pod is left.
   */
  deletePod(namespace: string, name: string): Promise<void>;
  /** Destroys open exec WebSockets (all, or a namespace's, or a pod's) with no status frame; processes keep running. */
  cutExecConnections(namespace?: string, name?: string): void;
  /** Pids of live processes started by exec in pods of that name (descendants included, deleted pods too). */
  livePids(namespace: string, name: string): number[];
  /** Forgets the change history: watches resuming from an older resourceVersion get a 410 Gone ERROR event. */
  compactHistory(): void;
  /** Stops listening and destroys every connection (watches end abruptly, exec sockets cut without status). Pods stay. */
  stopListening(): Promise<void>;
  /** Listens again on the same port after {@link KubeApiServer.stopListening}. */
  listenAgain(): Promise<void>;
  /** {@link KubeApiServer.stopListening} then {@link KubeApiServer.listenAgain}. */
  restart(): Promise<void>;
  /** Stops listening, kills every pod's processes and removes the temp dirs. */
  close(): Promise<void>;
}
