/**
 * Kubeconfig text for the test API server.
 */
import { stringify } from 'yaml';

/** What a kubeconfig for the test server needs. */
export interface KubeconfigOptions {
  server: string;
  caPem: string;
  token: string;
  /** Default namespace of the context. */
  namespace?: string;
}

/** Renders a one-cluster, one-user kubeconfig (context `kube-test`) that verifies the server's CA. */
export function renderKubeconfig(opts: KubeconfigOptions): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kube-test',
        cluster: { server: opts.server, 'certificate-authority-data': Buffer.from(opts.caPem).toString('base64') },
      },
    ],
    users: [{ name: 'kube-test', user: { token: opts.token } }],
    contexts: [
      {
        name: 'kube-test',
        context: { cluster: 'kube-test', user: 'kube-test', ...(opts.namespace ? { namespace: opts.namespace } : {}) },
      },
    ],
    'current-context': 'kube-test',
  });
}
