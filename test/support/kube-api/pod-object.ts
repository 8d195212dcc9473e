/**
 * Renders a test pod's state as the `v1.Pod` JSON a kubelet-backed API server would serve.
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 */
import { createHash } from 'node:crypto';

/** `status.phase` of a pod. */
export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** The mutable state of a test pod; everything else in the Pod object derives from it. */
export interface PodState {
  name: string;
  namespace: string;
  uid: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  containers: string[];
  env: Record<string, string>;
  createdAt: Date;
  resourceVersion: number;
  phase: PodPhase;
  ready: boolean;
  /** Reason on the Ready condition when not ready (default `ContainersNotReady`). */
  notReadyReason?: string;
  /** Containers are waiting with this reason (e.g. `ContainerCreating`, `CrashLoopBackOff`). */
  waiting?: { reason: string; message?: string };
  restartCount: number;
  podIP: string;
}

/** A Pod as JSON (loosely typed: it is only ever serialised). */
export type PodJson = Record<string, unknown> & { metadata: Record<string, unknown> };

const NODE = 'kube-test-node';
const HOST_IP = '10.0.0.10';

/** The image every test container claims to run. */
export const TEST_IMAGE = 'localhost/kube-test/claudebox:latest';

/** Field values for field selectors (`metadata.name`, `metadata.namespace`, `status.phase`, `spec.nodeName`). */
export function podFields(s: PodState): Record<string, string> {
  return { 'metadata.name': s.name, 'metadata.namespace': s.namespace, 'status.phase': s.phase, 'spec.nodeName': NODE };
}

/** True when an exec into the pod's containers can start (pod Running and containers not waiting). */
export function containersRunning(s: PodState): boolean {
  return s.phase === 'Running' && !s.waiting;
}

/** Renders the full Pod object (with `kind` and `apiVersion`). */
export function renderPod(s: PodState): PodJson {
  const created = s.createdAt.toISOString().replace(/\.\d+Z$/, 'Z');
  const running = containersRunning(s);
  const ready = running && s.ready;
  const cond = (type: string, ok: boolean, reason?: string, message?: string) => ({
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: created,
    ...(ok ? {} : { reason, message }),
  });
  const notReadyMessage = `containers with unready status: [${s.containers.join(' ')}]`;
  const notReadyReason = s.notReadyReason ?? 'ContainersNotReady';
  const started = s.phase !== 'Pending';
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      uid: s.uid,
      resourceVersion: String(s.resourceVersion),
      creationTimestamp: created,
      labels: { ...s.labels },
      annotations: { 'kubectl.kubernetes.io/default-container': s.containers[0], ...s.annotations },
    },
    spec: {
      containers: s.containers.map((name) => ({
        name,
        image: TEST_IMAGE,
        workingDir: '/workspace',
        env: Object.entries(s.env).map(([k, v]) => ({ name: k, value: v })),
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        imagePullPolicy: 'IfNotPresent',
      })),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      nodeName: NODE,
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
    },
    status: {
      phase: s.phase,
      conditions: [
        cond('PodReadyToStartContainers', started),
        cond('Initialized', true),
        cond('Ready', ready, notReadyReason, notReadyMessage),
        cond('ContainersReady', ready, notReadyReason, notReadyMessage),
        cond('PodScheduled', true),
      ],
      hostIP: HOST_IP,
      hostIPs: [{ ip: HOST_IP }],
      ...(started ? { podIP: s.podIP, podIPs: [{ ip: s.podIP }] } : {}),
      startTime: created,
      containerStatuses: s.containers.map((name) => ({
        name,
        state: containerState(s, created),
        ...(s.restartCount > 0 ? { lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: created, finishedAt: created } } } : { lastState: {} }),
        ready,
        restartCount: s.restartCount,
        image: TEST_IMAGE,
        imageID: `${TEST_IMAGE}@sha256:${'0'.repeat(64)}`,
        ...(started ? { containerID: `containerd://${createHash('sha256').update(`${s.uid}/${name}`).digest('hex')}` } : {}),
        started: running,
      })),
      qosClass: 'BestEffort',
    },
  };
}

function containerState(s: PodState, at: string): Record<string, unknown> {
  if (s.waiting) return { waiting: { reason: s.waiting.reason, ...(s.waiting.message ? { message: s.waiting.message } : {}) } };
  switch (s.phase) {
    case 'Pending':
      return { waiting: { reason: 'ContainerCreating' } };
    case 'Succeeded':
      return { terminated: { exitCode: 0, reason: 'Completed', startedAt: at, finishedAt: at } };
    case 'Failed':
      return { terminated: { exitCode: 1, reason: 'Error', startedAt: at, finishedAt: at } };
    default:
      return { running: { startedAt: at } };
  }
}

/** The STATUS column kubectl shows: a waiting/terminated reason, else the phase. */
export function displayStatus(s: PodState): string {
  if (s.waiting) return s.waiting.reason;
  if (s.phase === 'Pending') return 'ContainerCreating';
  if (s.phase === 'Succeeded') return 'Completed';
  if (s.phase === 'Failed') return 'Error';
  return s.phase;
}
