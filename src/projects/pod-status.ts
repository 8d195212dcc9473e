/**
 * A claudebox pod's state → a project's status, in words. Pure: it reads the few fields of a
 * `v1.Pod` it needs through structural types, so it neither imports `@kubernetes/client-node`
 * nor cares whether the pod came from a list (dates parsed) or a watch event (raw JSON).
 *
 * @see https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/
 */
import type { ProjectStatus } from './registry.js';

/** The state of one container, as in `status.containerStatuses[]`. */
export interface ContainerStatusLike {
  name: string;
  ready?: boolean | undefined;
  started?: boolean | undefined;
  state?:
    | {
        waiting?: { reason?: string | undefined; message?: string | undefined } | undefined;
        running?: unknown;
        terminated?: { exitCode?: number | undefined; signal?: number | undefined; reason?: string | undefined; message?: string | undefined } | undefined;
      }
    | undefined;
}

/** The parts of a `v1.Pod` that decide its project's status. */
export interface PodLike {
  metadata?: { name?: string | undefined; deletionTimestamp?: unknown } | undefined;
  status?:
    | {
        phase?: string | undefined;
        reason?: string | undefined;
        message?: string | undefined;
        conditions?: Array<{ type: string; status: string; reason?: string | undefined; message?: string | undefined }> | undefined;
        initContainerStatuses?: ContainerStatusLike[] | undefined;
        containerStatuses?: ContainerStatusLike[] | undefined;
      }
    | undefined;
}

/** A project's status and why. `statusMessage` is null only when READY. */
export interface PodProjectStatus {
  status: ProjectStatus;
  statusMessage: string | null;
}

// Waiting reasons that mean "still on its way up", as opposed to CrashLoopBackOff, ErrImagePull,
// ImagePullBackOff, CreateContainerConfigError, InvalidImageName... which need someone to act.
const STARTING_REASONS = new Set(['ContainerCreating', 'PodInitializing']);

/**
 * Maps a pod to its project's status:
 * - `READY`: phase Running and the Ready condition is True;
 * - `STARTING`: Pending, init containers still running, containers being created or not yet started;
 * - `NOT_READY`: running but not ready, a container waiting in an error (CrashLoopBackOff,
 *   ErrImagePull...), terminated or restarting, a pod being deleted or that has stopped.
 */
export function podStatus(pod: PodLike): PodProjectStatus {
  const name = pod.metadata?.name ?? '(unnamed)';
  const s = pod.status ?? {};
  const phase = s.phase ?? 'Pending';
  const init = s.initContainerStatuses ?? [];
  const main = s.containerStatuses ?? [];
  const notReady = (statusMessage: string): PodProjectStatus => ({ status: 'NOT_READY', statusMessage });
  const starting = (statusMessage: string): PodProjectStatus => ({ status: 'STARTING', statusMessage });

  if (pod.metadata?.deletionTimestamp) return notReady(`pod ${name} is being deleted`);
  if (phase === 'Succeeded' || phase === 'Failed') {
    return notReady(`pod ${name} has stopped (phase ${phase}${detail(s.reason, s.message)})`);
  }
  if (phase === 'Unknown') return notReady(`pod ${name} is in phase Unknown${detail(s.reason, s.message, ': ')}`);

  for (const [kind, list] of [
    ['init container', init],
    ['container', main],
  ] as const) {
    for (const c of list) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && !STARTING_REASONS.has(waiting.reason)) {
        return notReady(`${kind} ${c.name} is waiting: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`);
      }
    }
  }

  const pendingInit = init.find((c) => !(c.state?.terminated && c.state.terminated.exitCode === 0));
  if (pendingInit) {
    const t = pendingInit.state?.terminated;
    if (t) return notReady(`init container ${pendingInit.name} failed: ${terminatedText(t)}`);
    if (pendingInit.state?.running) return starting(`init container ${pendingInit.name} is running`);
    return starting(`init container ${pendingInit.name} is waiting: ${pendingInit.state?.waiting?.reason ?? 'PodInitializing'}`);
  }

  const creating = main.find((c) => c.state?.waiting);
  if (phase === 'Pending') {
    if (creating) return starting(`container ${creating.name} is waiting: ${creating.state?.waiting?.reason ?? 'ContainerCreating'}`);
    const scheduled = s.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') return starting(`pod ${name} is not scheduled yet${detail(scheduled.reason, scheduled.message, ': ')}`);
    return starting(`pod ${name} is pending`);
  }

  // Running from here on.
  const terminated = main.find((c) => c.state?.terminated);
  if (terminated?.state?.terminated) return notReady(`container ${terminated.name} terminated: ${terminatedText(terminated.state.terminated)}`);
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  if (ready?.status === 'True') return { status: 'READY', statusMessage: null };
  if (creating) return starting(`container ${creating.name} is waiting: ${creating.state?.waiting?.reason ?? 'ContainerCreating'}`);
  const unstarted = main.find((c) => c.state?.running && c.started === false);
  if (unstarted) return starting(`container ${unstarted.name} is starting`);
  return notReady(`pod ${name} is not ready${detail(ready?.reason, ready?.message, ': ')}`);
}

/** ": Reason (message)" or ": message", or "" when both are empty; `lead` replaces ": ". */
function detail(reason: string | undefined, message: string | undefined, lead = ': '): string {
  if (reason && message) return `${lead}${reason} (${message})`;
  if (reason || message) return `${lead}${reason ?? message}`;
  return '';
}

function terminatedText(t: { exitCode?: number | undefined; signal?: number | undefined; reason?: string | undefined; message?: string | undefined }): string {
  const code = t.exitCode !== undefined ? `exit code ${t.exitCode}` : t.signal !== undefined ? `signal ${t.signal}` : '';
  const words = [t.reason, t.message].filter(Boolean).join(': ');
  if (words && code) return `${words} (${code})`;
  return words || code || 'unknown reason';
}
