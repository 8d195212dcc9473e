import { describe, expect, it } from 'vitest';
import { podStatus, type ContainerStatusLike, type PodLike } from '../../src/projects/pod-status.js';

type Conditions = NonNullable<NonNullable<PodLike['status']>['conditions']>;

/** A pod as the API serves it, with the fields podStatus reads; `over` replaces parts of `status`. */
function pod(over: NonNullable<PodLike['status']> = {}, metadata: PodLike['metadata'] = {}): PodLike {
  return {
    metadata: { name: 'claudebox-demo-0', ...metadata },
    status: {
      phase: 'Running',
      conditions: readyConditions(true),
      containerStatuses: [running('claudebox', true)],
      ...over,
    },
  };
}

function readyConditions(ready: boolean, reason = 'ContainersNotReady', message = 'containers with unready status: [claudebox]'): Conditions {
  const c = (type: string) => (ready ? { type, status: 'True' } : { type, status: 'False', reason, message });
  return [{ type: 'Initialized', status: 'True' }, c('Ready'), c('ContainersReady'), { type: 'PodScheduled', status: 'True' }];
}

function running(name: string, ready: boolean, started = true): ContainerStatusLike {
  return { name, ready, started, state: { running: { startedAt: '2026-11-25T10:00:00Z' } } };
}

function waiting(name: string, reason: string, message?: string): ContainerStatusLike {
  return { name, ready: false, started: false, state: { waiting: { reason, ...(message ? { message } : {}) } } };
}

describe('podStatus', () => {
  it('is READY when Running with the Ready condition True', () => {
    expect(podStatus(pod())).toEqual({ status: 'READY', statusMessage: null });
  });

  it('is NOT_READY when running but not ready, with the condition in words', () => {
    const p = pod({ conditions: readyConditions(false), containerStatuses: [running('claudebox', false)] });
    expect(podStatus(p)).toEqual({
      status: 'NOT_READY',
      statusMessage: 'pod claudebox-demo-0 is not ready: ContainersNotReady (containers with unready status: [claudebox])',
    });
  });

  it('is NOT_READY for a container waiting in CrashLoopBackOff, with the kubelet message', () => {
    const p = pod({
      conditions: readyConditions(false),
      containerStatuses: [waiting('claudebox', 'CrashLoopBackOff', 'back-off 10s restarting failed container=claudebox pod=claudebox-demo-0_rdev(u1)')],
    });
    expect(podStatus(p)).toEqual({
      status: 'NOT_READY',
      statusMessage: 'container claudebox is waiting: CrashLoopBackOff (back-off 10s restarting failed container=claudebox pod=claudebox-demo-0_rdev(u1))',
    });
  });

  it('is NOT_READY for an image that cannot be pulled, even while Pending', () => {
    const p = pod({ phase: 'Pending', conditions: readyConditions(false), containerStatuses: [waiting('claudebox', 'ErrImagePull', 'pull access denied')] });
    expect(podStatus(p)).toEqual({ status: 'NOT_READY', statusMessage: 'container claudebox is waiting: ErrImagePull (pull access denied)' });
  });

  it('is STARTING while Pending with containers being created', () => {
    const p = pod({ phase: 'Pending', conditions: readyConditions(false), containerStatuses: [waiting('claudebox', 'ContainerCreating')] });
    expect(podStatus(p)).toEqual({ status: 'STARTING', statusMessage: 'container claudebox is waiting: ContainerCreating' });
  });

  it('is STARTING while Pending and not scheduled, with the scheduler message', () => {
    const p = pod({
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/3 nodes are available: 3 Insufficient cpu.' }],
      containerStatuses: undefined,
    });
    expect(podStatus(p)).toEqual({
      status: 'STARTING',
      statusMessage: 'pod claudebox-demo-0 is not scheduled yet: Unschedulable (0/3 nodes are available: 3 Insufficient cpu.)',
    });
  });

  it('is STARTING while an init container runs', () => {
    const p = pod({
      phase: 'Pending',
      conditions: readyConditions(false),
      initContainerStatuses: [{ name: 'clone', state: { terminated: { exitCode: 0, reason: 'Completed' } } }, running('seed', false, false)],
      containerStatuses: [waiting('claudebox', 'PodInitializing')],
    });
    expect(podStatus(p)).toEqual({ status: 'STARTING', statusMessage: 'init container seed is running' });
  });

  it('is NOT_READY when an init container failed', () => {
    const p = pod({
      phase: 'Pending',
      conditions: readyConditions(false),
      initContainerStatuses: [{ name: 'clone', state: { terminated: { exitCode: 128, reason: 'Error', message: 'repository not found' } } }],
      containerStatuses: [waiting('claudebox', 'PodInitializing')],
    });
    expect(podStatus(p)).toEqual({ status: 'NOT_READY', statusMessage: 'init container clone failed: Error: repository not found (exit code 128)' });
  });

  it('is STARTING when running but the container has not passed its startup probe', () => {
    const p = pod({ conditions: readyConditions(false), containerStatuses: [running('claudebox', false, false)] });
    expect(podStatus(p)).toEqual({ status: 'STARTING', statusMessage: 'container claudebox is starting' });
  });

  it('is NOT_READY when a container terminated and waits to restart', () => {
    const p = pod({
      conditions: readyConditions(false),
      containerStatuses: [{ name: 'claudebox', state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } }],
    });
    expect(podStatus(p)).toEqual({ status: 'NOT_READY', statusMessage: 'container claudebox terminated: OOMKilled (exit code 137)' });
  });

  it('is NOT_READY while the pod is being deleted, even if still ready', () => {
    expect(podStatus(pod({}, { deletionTimestamp: '2026-11-25T10:00:00Z' }))).toEqual({
      status: 'NOT_READY',
      statusMessage: 'pod claudebox-demo-0 is being deleted',
    });
  });

  it('is NOT_READY when the pod has stopped', () => {
    const p = pod({ phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.', conditions: [], containerStatuses: [] });
    expect(podStatus(p)).toEqual({
      status: 'NOT_READY',
      statusMessage: 'pod claudebox-demo-0 has stopped (phase Failed: Evicted (The node was low on resource: memory.))',
    });
  });

  it('is NOT_READY in phase Unknown', () => {
    expect(podStatus(pod({ phase: 'Unknown', conditions: [] }))).toEqual({ status: 'NOT_READY', statusMessage: 'pod claudebox-demo-0 is in phase Unknown' });
  });

  it('treats a pod without status as STARTING (just created)', () => {
    expect(podStatus({ metadata: { name: 'new-0' } })).toEqual({ status: 'STARTING', statusMessage: 'pod new-0 is pending' });
  });

  it('looks at every container: a crashing sidecar makes the pod NOT_READY', () => {
    const p = pod({ conditions: readyConditions(false), containerStatuses: [running('claudebox', true), waiting('proxy', 'CrashLoopBackOff')] });
    expect(podStatus(p)).toEqual({ status: 'NOT_READY', statusMessage: 'container proxy is waiting: CrashLoopBackOff' });
  });
});
