/**
 * Discovery documents (`/version`, `/api`, `/api/v1`, `/apis`) in their legacy, unaggregated
 * form: served as plain `application/json`, which kubectl accepts instead of the aggregated
 * `apidiscovery.k8s.io/v2` it asks for first.
 *
 * @see https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api
 */

/** `GET /version`. */
export function versionInfo(): unknown {
  return {
    major: '1',
    minor: '32',
    gitVersion: 'v1.32.0-kube-test',
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z',
    goVersion: 'go1.23.4',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

/** `GET /api`. */
export function coreApiVersions(serverAddress: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** `GET /apis`: no API groups beyond the core group. */
export function apiGroups(): unknown {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
}

/** `GET /api/v1`: the resources this server serves, with the verbs it supports. */
export function coreV1Resources(): unknown {
  const sub = (name: string, kind: string, verbs: string[]) => ({ name, singularName: '', namespaced: true, kind, verbs });
  return {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get'], shortNames: ['ns'] },
      {
        name: 'pods',
        singularName: 'pod',
        namespaced: true,
        kind: 'Pod',
        verbs: ['delete', 'get', 'list', 'watch'],
        shortNames: ['po'],
        categories: ['all'],
      },
      sub('pods/exec', 'PodExecOptions', ['create', 'get']),
      sub('pods/log', 'Pod', ['get']),
    ],
  };
}
