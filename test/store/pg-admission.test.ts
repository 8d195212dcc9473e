// The cluster-wide queue on a real PostgreSQL (src/cluster/admission.ts): a cancel of a queued
// command that lands while a replica is claiming it. The claim is run with its statements seen one
// by one, and the cancel commits right after the claim has read the queue and before it writes:
// the replicas test's cross-replica cancel once found such a command RUNNING again (and running,
// `sleep 300`) after the cancel had answered CANCELED.
import { describe, expect, it } from 'vitest';
import { admit, cancelQueued, claimQueued, type Owner } from '../../src/cluster/admission.js';
import type { QueryResult, QueryResultRow } from 'pg';
import { draftOf } from './helpers.js';
import { usePgStores } from './pg-fixture.js';

const stores = usePgStores('admission');
const limits = { maxConcurrentPerProject: 1, maxConcurrentTotal: 10, maxQueued: 10 };
const owner: Owner = { replicaId: 'r1', leaseSeconds: 30 };

describe('claiming queued commands on PostgreSQL', () => {
  it('leaves a command canceled between the claim reading the queue and writing it CANCELED, and claims nothing', async () => {
    const store = await stores.open({ url: await stores.freshDatabase(), replicaId: 'r1', flushMs: 5 });
    const add = (n: number) => store.db.transaction((q) => admit(q, { draft: draftOf(n), caller: 'tester', key: undefined, stdin: undefined, limits, owner }));
    const running = await add(1);
    const queued = await add(2);
    expect([running.reused || running.command.status, queued.reused || queued.command.status]).toEqual(['RUNNING', 'QUEUED']);
    // The running one ends: the queued one may run now.
    await store.db.query("UPDATE commands SET status = 'SUCCEEDED' WHERE id = $1", [running.command.id]);

    let canceled: boolean | undefined;
    const claimed = await store.db.transaction(async (q) => {
      const seen = async <R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> => {
        const result = await q<R>(text, values);
        // The claim has read the queue: a cancel from another replica (another connection) commits now.
        if (canceled === undefined && text.includes("WHERE status = 'QUEUED' ORDER BY ordinal"))
          canceled = await cancelQueued(store.db.query, queued.command.id);
        return result;
      };
      return claimQueued(seen, limits, owner);
    });
    expect(canceled).toBe(true);
    expect(claimed).toEqual([]);
    const [row] = (await store.db.query<{ status: string; owner: string | null }>('SELECT status, owner FROM commands WHERE id = $1', [queued.command.id]))
      .rows;
    expect(row).toEqual({ status: 'CANCELED', owner: null });
  });

  it('still claims a queued command nobody canceled', async () => {
    const store = await stores.open({ url: await stores.freshDatabase(), replicaId: 'r1', flushMs: 5 });
    const add = (n: number) => store.db.transaction((q) => admit(q, { draft: draftOf(n), caller: 'tester', key: undefined, stdin: undefined, limits, owner }));
    const running = await add(1);
    const queued = await add(2);
    await store.db.query("UPDATE commands SET status = 'SUCCEEDED' WHERE id = $1", [running.command.id]);
    const claimed = await store.db.transaction((q) => claimQueued(q, limits, owner));
    expect(claimed.map((c) => [c.command.id, c.command.status, c.epoch])).toEqual([[queued.command.id, 'RUNNING', 1]]);
  });
});
