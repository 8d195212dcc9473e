import { existsSync } from 'node:fs';
import { delimiter } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Config } from './config.js';
import type { Executor } from './exec/executor.js';
import { createKubeExecutor, type PodGoneSource } from './exec/kube.js';
import { createLocalExecutor } from './exec/local.js';
import type { Logger } from './logger.js';
import { createKubeRegistry } from './projects/kube.js';
import { createLocalRegistry } from './projects/local.js';
import type { ProjectRegistry } from './projects/registry.js';

/** Where projects come from and where their commands run. */
export interface Backend {
  registry: ProjectRegistry;
  executor: Executor;
}

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

/**
 * Builds the backend `config.backend` names, keeping whatever `supplied` already holds: `local`
 * (a projects file or the demo project, child processes) or `kube` (claudebox pods watched by
 * label, exec over WebSocket). The kube registry starts listing in the background: an API server
 * that cannot be reached makes `/ready` answer 503 with the reason while it keeps retrying.
 */
export function createBackend(config: Readonly<Config>, logger: Logger, supplied: Partial<Backend> = {}): Backend {
  if (config.backend === 'local') {
    return {
      registry: supplied.registry ?? createLocalRegistry({ projectsFile: config.projectsFile, dataDir: config.dataDir }),
      executor: supplied.executor ?? createLocalExecutor({ spoolDir: config.spoolDir, maxSpoolBytes: config.maxOutputBytes }),
    };
  }
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
