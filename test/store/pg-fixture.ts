import { afterAll, afterEach, beforeAll } from 'vitest';
import { openPgStore, type PgStore, type PgStoreOptions } from '../../src/store/postgres/index.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';

/** What a PostgreSQL store test file works with (see {@link usePgStores}). */
export interface PgStores {
  /** The file's throwaway cluster (started before its first test). */
  readonly cluster: PgCluster;
  /** A fresh, empty database; its URL. */
  freshDatabase(): Promise<string>;
  /** Opens a store, closed again after the test. */
  open(options: PgStoreOptions): Promise<PgStore>;
}

/**
 * One throwaway PostgreSQL cluster for the test file (removed after it), fresh databases named
 * `<prefix>_<n>`, and stores that are closed after each test. `beforeClose` runs first in each
 * test's clean-up (a test that stopped the cluster starts it again there).
 */
export function usePgStores(prefix: string, o: { beforeClose?: (cluster: PgCluster) => Promise<void> } = {}): PgStores {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(() => cluster?.remove());
  const opened: PgStore[] = [];
  afterEach(async () => {
    if (cluster) await o.beforeClose?.(cluster);
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  let databases = 0;
  const started = (): PgCluster => {
    if (!cluster) throw new Error('the cluster starts in beforeAll');
    return cluster;
  };
  return {
    get cluster() {
      return started();
    },
    freshDatabase: () => started().createDatabase(`${prefix}_${++databases}`),
    async open(options) {
      const store = await openPgStore(options);
      opened.push(store);
      return store;
    },
  };
}
