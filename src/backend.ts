import type { Config } from './config.js';
import type { Executor } from './exec/executor.js';
import { createLocalExecutor } from './exec/local.js';
import type { Logger } from './logger.js';
import { createLocalRegistry } from './projects/local.js';
import type { ProjectRegistry } from './projects/registry.js';

/** Where projects come from and where their commands run. */
export interface Backend {
  registry: ProjectRegistry;
  executor: Executor;
}

/**
 * Builds the backend `config.backend` names, keeping whatever `supplied` already holds: `local`
 * (a projects file or the demo project, child processes) or `kube` (claudebox pods watched by
 * label, exec over WebSocket). The kube registry starts listing in the background: an API server
 * that cannot be reached makes `/ready` answer 503 with the reason while it keeps retrying. The
 * kube modules are loaded only for the kube backend.
 */
export async function createBackend(config: Readonly<Config>, logger: Logger, supplied: Partial<Backend> = {}): Promise<Backend> {
  if (config.backend === 'local') {
    return {
      registry: supplied.registry ?? createLocalRegistry({ projectsFile: config.projectsFile, dataDir: config.dataDir }),
      executor: supplied.executor ?? createLocalExecutor({ spoolDir: config.spoolDir, maxSpoolBytes: config.maxOutputBytes, envNames: config.commandEnv }),
    };
  }
  const { createKubeBackend } = await import('./kube-backend.js');
  return createKubeBackend(config, logger, supplied);
}
