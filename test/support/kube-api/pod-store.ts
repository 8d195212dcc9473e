/**
 * The pods of the test API server: one global resourceVersion counter (like etcd's revision),
 * a bounded history of changes for resuming watches, and the live watchers.
 */
import type { Matcher } from './selectors.js';
import { podFields, type PodState } from './pod-object.js';

/** The type of a watch event about a pod. */
export type PodEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Which pods a list or watch selects. */
export interface PodFilter {
  /** Absent: every namespace. */
  namespace?: string;
  labels: Matcher;
  fields: Matcher;
}

/** A live watcher: receives each matching change as it happens. */
export interface PodWatcher {
  filter: PodFilter;
  send(type: PodEventType, pod: PodState): void;
}

/** Result of starting a watch: the too-old case is the real server's `410 Gone`. */
export type WatchStart = { ok: true; stop: () => void } | { ok: false; message: string };

interface StoredEvent {
  type: PodEventType;
  pod: PodState;
}

/** In-memory pod store with resourceVersions and watch history. */
export class PodStore {
  #rv = 1;
  #pods = new Map<string, PodState>();
  #history: StoredEvent[] = [];
  /** Events with a resourceVersion up to this one are forgotten. */
  #compactedRv = 1;
  #watchers = new Set<PodWatcher>();
  #nextIp = 2;

  /** @param historyLimit how many changes are kept for watches that resume from a resourceVersion. */
  constructor(private readonly historyLimit: number) {}

  /** The current resourceVersion (what a list reports). */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** A fresh pod IP in 10.244.0.0/16. */
  allocateIp(): string {
    const n = this.#nextIp++;
    return `10.244.${Math.floor(n / 250)}.${(n % 250) + 2}`;
  }

  /** Adds a pod (ADDED). Throws if one of that name exists in the namespace. */
  create(state: PodState): PodState {
    const key = keyOf(state.namespace, state.name);
    if (this.#pods.has(key)) throw new Error(`pod ${key} already exists`);
    this.#pods.set(key, state);
    this.#emit('ADDED', state);
    return state;
  }

  /** The pod, or undefined. */
  get(namespace: string, name: string): PodState | undefined {
    return this.#pods.get(keyOf(namespace, name));
  }

  /** Pods matching the filter, ordered by namespace then name (as etcd lists them). */
  list(filter: PodFilter): PodState[] {
    return [...this.#pods.values()].filter((p) => matches(filter, p)).sort(byKey);
  }

  /** Changes a pod in place (MODIFIED). Throws if it does not exist. */
  update(namespace: string, name: string, mutate: (pod: PodState) => void): PodState {
    const pod = this.get(namespace, name);
    if (!pod) throw new Error(`pod ${keyOf(namespace, name)} not found`);
    mutate(pod);
    this.#emit('MODIFIED', pod);
    return pod;
  }

  /** Removes a pod (DELETED); returns it, or undefined when there was none. */
  remove(namespace: string, name: string): PodState | undefined {
    const key = keyOf(namespace, name);
    const pod = this.#pods.get(key);
    if (!pod) return undefined;
    this.#pods.delete(key);
    this.#emit('DELETED', pod);
    return pod;
  }

  /** Forgets the change history, so a watch resuming from any older resourceVersion gets 410 Gone. */
  compact(): void {
    this.#history = [];
    this.#compactedRv = this.#rv;
  }

  /**
   * Starts a watch. Without `fromRv` it first sends ADDED for every current pod (like a watch
   * without resourceVersion or with "0"); with it, it replays the changes after that version.
   */
  watch(watcher: PodWatcher, fromRv: number | undefined): WatchStart {
    if (fromRv === undefined) {
      for (const pod of this.list(watcher.filter)) watcher.send('ADDED', pod);
    } else {
      if (fromRv < this.#compactedRv) {
        return { ok: false, message: `too old resource version: ${fromRv} (${this.#compactedRv + 1})` };
      }
      for (const e of this.#history) {
        if (e.pod.resourceVersion > fromRv && matches(watcher.filter, e.pod)) watcher.send(e.type, e.pod);
      }
    }
    this.#watchers.add(watcher);
    return { ok: true, stop: () => this.#watchers.delete(watcher) };
  }

  #emit(type: PodEventType, pod: PodState): void {
    pod.resourceVersion = ++this.#rv;
    const snapshot = structuredClone(pod);
    this.#history.push({ type, pod: snapshot });
    while (this.#history.length > this.historyLimit) {
      const dropped = this.#history.shift();
      if (dropped) this.#compactedRv = dropped.pod.resourceVersion;
    }
    for (const w of this.#watchers) if (matches(w.filter, snapshot)) w.send(type, snapshot);
  }
}

function keyOf(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function matches(filter: PodFilter, pod: PodState): boolean {
  if (filter.namespace !== undefined && filter.namespace !== pod.namespace) return false;
  return filter.labels(pod.labels) && filter.fields(podFields(pod));
}

function byKey(a: PodState, b: PodState): number {
  return keyOf(a.namespace, a.name).localeCompare(keyOf(b.namespace, b.name));
}
