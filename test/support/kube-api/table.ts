/**
 * Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for with
 * `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`.
 *
 * @see https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables
 */
import type { IncomingMessage } from 'node:http';
import { displayStatus, renderPod, type PodState } from './pod-object.js';

/** True when the request accepts a `meta.k8s.io/v1` Table. */
export function wantsTable(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io') && params.includes('v=v1');
  });
}

const columns = [
  ['Name', 'name', 0, 'Name must be unique within a namespace.'],
  ['Ready', '', 0, 'The aggregate readiness state of this pod for accepting traffic.'],
  ['Status', '', 0, 'The aggregate status of the containers in this pod.'],
  ['Restarts', '', 0, 'The number of times the containers in this pod have been restarted.'],
  ['Age', '', 0, 'CreationTimestamp is a timestamp representing the server time when this object was created.'],
  ['IP', '', 1, 'podIP address allocated to the pod.'],
  ['Node', '', 1, 'Name of the Node this pod runs on.'],
  ['Nominated Node', '', 1, 'nominatedNodeName is set when this pod preempts other pods on the node.'],
  ['Readiness Gates', '', 1, 'If specified, all readiness gates will be evaluated for pod readiness.'],
] as const;

/**
 * Renders pods as a Table. `includeObject` follows the query parameter of the same name:
 * `None`, `Metadata` (the default: a PartialObjectMetadata per row) or `Object`.
 */
export function renderPodTable(pods: readonly PodState[], resourceVersion: number, includeObject: string | null, now = new Date()): unknown {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: String(resourceVersion) },
    columnDefinitions: columns.map(([name, format, priority, description]) => ({ name, type: 'string', format, description, priority })),
    rows: pods.map((p) => {
      const readyCount = p.phase === 'Running' && !p.waiting && p.ready ? p.containers.length : 0;
      const pod = renderPod(p);
      const object =
        includeObject === 'None'
          ? undefined
          : includeObject === 'Object'
            ? pod
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: pod.metadata };
      return {
        cells: [
          p.name,
          `${readyCount}/${p.containers.length}`,
          displayStatus(p),
          String(p.restartCount),
          age(now.getTime() - p.createdAt.getTime()),
          p.phase === 'Pending' ? '<none>' : p.podIP,
          'kube-test-node',
          '<none>',
          '<none>',
        ],
        ...(object ? { object } : {}),
      };
    }),
  };
}

/** Short human duration like kubectl's (`5s`, `3m`, `2h`, `4d`). */
function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
