/**
 * Kubernetes API test server: a small, faithful fake of kube-apiserver + kubelet exec for tests
 * that drive the real `@kubernetes/client-node` and `kubectl` over a real socket.
 */
export { startKubeApiServer } from './server.js';
export type { KubeApiServer, KubeApiServerOptions, PodPhase, RequestLogEntry, TestPod, TestPodSpec } from './types.js';
export { POD_MARKER, POD_UID_MARKER } from './pod-processes.js';
export { runKubectl, type KubectlResult, type RunKubectlOptions } from './kubectl.js';
