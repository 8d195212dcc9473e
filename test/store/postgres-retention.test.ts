// Retention on PostgreSQL (src/cluster/pg-retention.ts) on a real server: output of finished
// commands goes oldest first by age and by total size, the record and the completed event stay,
// a running command is never touched, and two replicas pruning at once count nothing twice.
import { describe, expect, it } from 'vitest';
import { prunePg } from '../../src/cluster/pg-retention.js';
import type { Command } from '../../src/runs/types.js';
import { type PgStore } from '../../src/store/postgres/index.js';
import { draftOf } from './helpers.js';
import { usePgStores } from './pg-fixture.js';

const stores = usePgStores('retention');
const fresh = async (): Promise<PgStore> => stores.open({ url: await stores.freshDatabase(), replicaId: 'r1', flushMs: 5 });

/** A command with `lines` output events of 100 bytes each, finished at `finishedAt` (epoch ms), or still running. */
async function command(store: PgStore, lines: number, finishedAt: number | null): Promise<Command> {
  const c = await store.commands.insert(draftOf(0, { status: 'RUNNING', startedAt: new Date(0) }));
  await store.log.append(
    c.id,
    Array.from({ length: lines }, () => ({ type: 'output' as const, stream: 'STDOUT' as const, text: `${'x'.repeat(99)}\n`, at: new Date(0) })),
  );
  if (finishedAt !== null) {
    const done = store.commands.update(c.id, { status: 'SUCCEEDED', exitCode: 0, finishedAt: new Date(finishedAt), durationMs: 1 });
    await store.log.append(c.id, [{ type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 1, error: null, at: new Date(finishedAt) }]);
    await done;
  }
  await store.flushed();
  return c;
}

describe('retention on PostgreSQL', () => {
  it('prunes by age, oldest first: the record says what went, the completed event stays, a running command is untouched', async () => {
    const store = await fresh();
    const now = 10 * 86_400_000;
    const old = await command(store, 3, 1000);
    const recent = await command(store, 3, now - 1000);
    const running = await command(store, 3, null);
    const report = await prunePg(store.db, { maxAgeMs: 86_400_000, now });
    expect(report).toEqual({ commands: 1, events: 3, bytes: 300 });
    expect((await store.log.read(old.id, 0, 100)).map((e) => e.type)).toEqual(['completed']);
    expect(await store.commands.get(old.id)).toMatchObject({ prunedAt: new Date(now) });
    expect(await store.log.read(recent.id, 0, 100)).toHaveLength(4);
    expect(await store.log.read(running.id, 0, 100)).toHaveLength(3);
  });

  it('prunes by total size until the rest fits, and two replicas pruning at once count each command once', async () => {
    const url = await stores.freshDatabase();
    const store = await stores.open({ url, replicaId: 'r1', flushMs: 5 });
    const other = await stores.open({ url, replicaId: 'r2' });
    const ids = [];
    for (let i = 0; i < 6; i++) ids.push((await command(store, 10, 1000 + i)).id); // 1,000 bytes each
    const [a, b] = await Promise.all([prunePg(store.db, { maxOutputBytes: 2500, now: 5000 }), prunePg(other.db, { maxOutputBytes: 2500, now: 5000 })]);
    // Four of six go (6,000 → 2,000 bytes), whoever pruned which.
    expect(a.commands + b.commands).toBe(4);
    expect(a.bytes + b.bytes).toBe(4000);
    const left = await Promise.all(ids.map(async (id) => (await store.log.read(id, 0, 100)).length));
    expect(left).toEqual([1, 1, 1, 1, 11, 11]);
  });
});
