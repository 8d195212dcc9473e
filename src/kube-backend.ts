import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Backend } from './backend.js';
import type { Config } from './config.js';
import { createKubeExecutor, type PodGoneSource } from './exec/kube.js';
import type { Logger } from './logger.js';
import { createKubeRegistry } from './projects/kube.js';

// The kube backend's wiring, apart from backend.ts so that the local backend never loads
// @kubernetes/client-node (over a second of a start-up's module loading).

/** The service-account token every pod gets: its presence means we run in a cluster. */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Loads the kube backend's `KubeConfig`: the `KUBECONFIG` file(s) when set (a list is merged as
 * kubectl does), else the in-cluster service account, else client-node's default lookup
 * (`~/.kube/config`, then `http://localhost:8080`).
 */
export function loadKubeConfig(kubeconfig: string | undefined, inCluster = existsSync(SERVICE_ACCOUNT_TOKEN)): KubeConfig {
  const kc = new KubeConfig();
  const files = (kubeconfig ?? '').split(delimiter).filter(Boolean);
  if (files.length > 0) {
    kc.loadFromFile(files[0]!);
    for (const file of files.slice(1)) {
      const more = new KubeConfig();
      more.loadFromFile(file);
      kc.mergeConfig(more, true);
    }
  } else if (inCluster) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  return kc;
}

/** The kube backend: claudebox pods watched by label, exec over WebSocket; keeps what `supplied` holds. */
export function createKubeBackend(config: Readonly<Config>, logger: Logger, supplied: Partial<Backend>): Backend {
  const kubeConfig = loadKubeConfig(config.kubeconfig);
  const kubeRegistry = supplied.registry
    ? undefined
    : createKubeRegistry({
        kubeConfig,
        namespace: config.namespace,
        projectLabel: config.projectLabel,
        workspace: config.workspace,
        logger: logger.child({ component: 'kube-registry' }),
      });
  const executor =
    supplied.executor ??
    createKubeExecutor({
      kubeConfig,
      namespace: config.namespace,
      container: config.container,
      workspace: config.workspace,
      spoolDir: config.spoolDir,
      maxSpoolBytes: config.maxOutputBytes,
      pods: kubeRegistry ?? (isPodGoneSource(supplied.registry) ? supplied.registry : undefined),
      logger: logger.child({ component: 'kube-executor' }),
    });
  return { registry: supplied.registry ?? kubeRegistry!, executor };
}

function isPodGoneSource(registry: unknown): registry is PodGoneSource {
  return typeof (registry as Partial<PodGoneSource> | undefined)?.onPodGone === 'function';
}
