// The PostgreSQL event log across replicas: two (or three) stores on one database, as two
// processes would be, on a real server (test/support/postgres.ts).
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import type { NewCommand } from '../../src/runs/command-store.js';
import type { CommandEvent, NewCommandEvent } from '../../src/runs/types.js';
import { FencedError, type PgStore, type PgStoreOptions } from '../../src/store/postgres/index.js';
import { usePgStores } from './pg-fixture.js';

const stores = usePgStores('log');
/** A fresh, empty database. */
const freshDatabase = (): Promise<string> => stores.freshDatabase();
async function open(url: string, replicaId: string, options: Partial<PgStoreOptions> = {}): Promise<PgStore> {
  return stores.open({ url, replicaId, flushMs: 10, ...options });
}

/** Two replicas on one fresh database, and a command inserted by the first. */
async function twoReplicas(options: Partial<PgStoreOptions> = {}): Promise<{ url: string; a: PgStore; b: PgStore; id: string }> {
  const url = await freshDatabase();
  const [a, b] = await Promise.all([open(url, 'a', options), open(url, 'b', options)]);
  const command = await a.commands.insert(newCommand());
  return { url, a, b, id: command.id };
}

const newCommand = (): NewCommand => ({
  projectId: 'demo',
  kind: 'SHELL',
  argv: ['sh', '-c', 'make'],
  workdir: '',
  timeoutSeconds: 600,
  status: 'RUNNING',
  exitCode: null,
  error: null,
  createdAt: new Date(1_700_000_000_000),
  startedAt: new Date(1_700_000_000_500),
  finishedAt: null,
  durationMs: null,
  claude: null,
  prunedAt: null,
  spool: null,
});

const at = new Date('2026-11-25T10:00:00.250Z');
const out = (text: string, stream: 'STDOUT' | 'STDERR' = 'STDOUT'): NewCommandEvent => ({ type: 'output', stream, text, at });
const completed: NewCommandEvent = { type: 'completed', status: 'SUCCEEDED', exitCode: 0, durationMs: 1234, error: null, at };

async function collect(events: AsyncIterable<CommandEvent>): Promise<CommandEvent[]> {
  const got: CommandEvent[] = [];
  for await (const e of events) got.push(e);
  return got;
}

/** Resolves once `store` has made every appended event of `id` durable. */
async function durable(store: PgStore, id: string): Promise<void> {
  await vi.waitFor(async () => expect(await store.log.durableSeq(id)).toBe(await store.log.lastSeq(id)), { timeout: 10_000, interval: 10 });
}

describe('postgres event log', () => {
  it('reads back on another replica exactly what was appended: text with NUL, emoji and quotes, claude messages, the completion', async () => {
    const { a, b, id } = await twoReplicas();
    const events: NewCommandEvent[] = [
      out('plain line\n'),
      out('a NUL \0 in the middle, "quotes", back\\slash, tab\t, emoji 🎉, ünïcödé\n', 'STDERR'),
      out(''),
      {
        type: 'claude',
        messageType: 'assistant',
        subtype: null,
        text: 'Let me look.',
        toolName: 'Read',
        message: { type: 'assistant', nested: { a: [1, 2.5, null, 'x\u0000y'] } },
        at,
      },
      { type: 'claude', messageType: 'system', subtype: 'init', text: '', toolName: null, message: undefined, at },
      { ...completed, status: 'FAILED', exitCode: 2, error: 'exit 2' },
    ];
    const appended = await a.log.append(id, events);
    expect(appended.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    await durable(a, id);
    expect(await b.log.read(id, 0, 100)).toEqual(appended);
    expect(await b.log.read(id, 2, 2)).toEqual(appended.slice(2, 4));
    expect(await b.log.durableSeq(id)).toBe(6);
  });

  it('numbers a command on from its stored events in call order when this process never appended to it', async () => {
    const { url, a, id } = await twoReplicas();
    await a.log.append(id, [out('1'), out('2')]);
    await durable(a, id);
    const c = await open(url, 'c');
    // Not awaited one by one: the first must load the last seq, the others queue behind it.
    const results = await Promise.all([c.log.append(id, [out('3')]), c.log.append(id, [out('4'), out('5')]), c.log.append(id, [out('6')])]);
    expect(results.flat().map((e) => [e.seq, (e as { text: string }).text])).toEqual([
      [3, '3'],
      [4, '4'],
      [5, '5'],
      [6, '6'],
    ]);
    expect(await c.log.lastSeq(id)).toBe(6);
    await durable(c, id);
    expect((await a.log.read(id, 0, 10)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('lets a follower on one replica see what another appends: live, in order, each event once, ending after the completion', async () => {
    const { a, b, id } = await twoReplicas();
    await a.log.append(id, [out('before the follower\n')]);
    await durable(a, id);
    const following = collect(b.log.follow(id, 0, new AbortController().signal));
    const appended: CommandEvent[] = [];
    for (let round = 0; round < 20; round++) {
      appended.push(...(await a.log.append(id, [out(`round ${round} line 1\n`), out(`round ${round} line 2\n`, 'STDERR')])));
      if (round % 5 === 0) await durable(a, id);
    }
    appended.push(...(await a.log.append(id, [completed])));
    const got = await following;
    expect(got).toEqual([...(await a.log.read(id, 0, 1)), ...appended]);
  });

  it('serves 200 followers on one replica with one read per notification, not one per follower', async () => {
    const { a, b, id } = await twoReplicas();
    let commits = 0;
    const followers = Array.from({ length: 200 }, () => collect(b.log.follow(id, 0, new AbortController().signal)));
    // Each follower's first read (nothing there yet) is one statement; wait until all 200 made theirs.
    await vi.waitFor(() => expect(b.stats().queries).toBeGreaterThanOrEqual(200), { timeout: 10_000, interval: 10 });
    const before = b.stats().queries;
    const durableOnB: number[] = [];
    b.log.onDurable((commandId, events) => commandId === id && durableOnB.push(...events.map((e) => e.seq)));
    let durableOnA = 0;
    a.log.onDurable((commandId, events) => {
      if (commandId !== id) return;
      commits++;
      durableOnA = events.at(-1)!.seq;
    });
    const appended: CommandEvent[] = [];
    for (let round = 0; round < 10; round++) {
      appended.push(
        ...(await a.log.append(
          id,
          Array.from({ length: 50 }, (_, i) => out(`r${round} e${i}\n`)),
        )),
      );
      await durable(a, id);
    }
    appended.push(...(await a.log.append(id, [completed])));
    const results = await Promise.all(followers);
    for (const got of results) expect(got).toEqual(appended);
    const reads = b.stats().queries - before;
    // B may read the last commit before A has processed its COMMIT's answer.
    await vi.waitFor(() => expect(durableOnA).toBe(appended.at(-1)!.seq));
    expect(commits).toBeGreaterThanOrEqual(11);
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(commits);
    expect(durableOnB).toEqual(appended.map((e) => e.seq));
  });

  it('hands a replica’s own commits to its followers without reading them', async () => {
    const { a, id } = await twoReplicas();
    let reads = 0;
    const query = a.pool.query.bind(a.pool) as (...args: unknown[]) => unknown;
    // Counts the store's event reads (the write queue's statements run on checked-out clients, not through pool.query).
    a.pool.query = ((text: unknown, ...rest: unknown[]) => {
      if (typeof text === 'string' && text.startsWith('SELECT seq,')) reads++;
      return query(text, ...rest);
    }) as typeof a.pool.query;
    const following = collect(a.log.follow(id, 0, new AbortController().signal));
    await vi.waitFor(() => expect(reads).toBe(1)); // the follower's first read: nothing there yet
    for (let i = 0; i < 5; i++) {
      await a.log.append(id, [out(`${i}\n`)]);
      await durable(a, id);
    }
    await a.log.append(id, [completed]);
    expect((await following).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(reads).toBe(1);
  });

  it('tells onDurable of another replica’s events only for commands it follows or is interested in', async () => {
    const { url, a, id } = await twoReplicas();
    const other = await a.commands.insert({ ...newCommand(), projectId: 'elsewhere' });
    const c = await open(url, 'c');
    const seen: Array<[string, number[]]> = [];
    c.log.onDurable((commandId, events) => seen.push([commandId, events.map((e) => e.seq)]));
    c.log.setInterest((_commandId, projectId) => projectId === 'demo');
    await a.log.append(other.id, [out('not for c\n')]);
    await a.log.append(id, [out('x\n'), out('y\n')]);
    await durable(a, id);
    await a.log.append(id, [completed]);
    await vi.waitFor(() => expect(seen.flatMap(([, seqs]) => seqs)).toEqual([1, 2, 3]), { timeout: 10_000 });
    expect(seen.every(([commandId]) => commandId === id)).toBe(true);
  });

  it('catches followers up on what was committed while its LISTEN connection was down', async () => {
    const { url, a, b, id } = await twoReplicas();
    const following = collect(b.log.follow(id, 0, new AbortController().signal));
    await a.log.append(id, [out('1\n')]);
    await durable(a, id);
    const reconnected = new Promise<void>((resolve) => b.notifications.onReconnect(resolve));
    const admin = new pg.Client({ connectionString: url });
    admin.on('error', () => {});
    await admin.connect();
    try {
      // B's listening session is the one whose last statement was a LISTEN.
      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'rdev-api b' AND query LIKE 'LISTEN%'",
      );
      expect(killed.rows).toEqual([{ ok: true }]);
    } finally {
      await admin.end();
    }
    // Committed before B listens again (its first retry waits 250 ms): B hears nothing of these.
    await a.log.append(id, [out('2\n'), out('3\n')]);
    await durable(a, id);
    await reconnected;
    await a.log.append(id, [completed]);
    expect((await following).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });
});

describe('postgres store lifecycle', () => {
  it('resolves flushed() once everything appended and changed before it is written', async () => {
    const { a, id } = await twoReplicas({ flushMs: 60_000 });
    await a.log.append(id, [out('1\n'), out('2\n')]);
    const updated = a.commands.update(id, { spool: { pgid: 3, stdout: 4, stderr: 0 } });
    expect(await a.log.durableSeq(id)).toBe(0); // a minute's batch window: nothing written yet
    await a.log.flushed();
    expect(await a.log.durableSeq(id)).toBe(2);
    await updated;
    expect((await a.pool.query('SELECT stdout_offset FROM commands WHERE id = $1', [id])).rows).toEqual([{ stdout_offset: 4 }]);
  });

  it('writes what is pending at close, then ends the followers that wait', async () => {
    const { a, b, id } = await twoReplicas({ flushMs: 60_000 });
    const following = collect(a.log.follow(id, 0, new AbortController().signal));
    await a.log.append(id, [out('last words\n')]);
    await a.close();
    expect((await following).map((e) => e.seq)).toEqual([1]);
    expect(await b.log.durableSeq(id)).toBe(1);
    await expect(a.log.append(id, [out('after\n')])).rejects.toThrow(/closed/);
  });
});

describe('postgres fencing', () => {
  it('writes nothing more of a command whose epoch another replica bumped: updates reject with FencedError, onFenced fires', async () => {
    const { url, a, id } = await twoReplicas();
    await a.pool.query('UPDATE commands SET epoch = 1, owner = $2 WHERE id = $1', [id, 'a']);
    a.fence.hold(id, 1);
    const fenced: string[] = [];
    a.fence.onFenced((commandId) => fenced.push(commandId));
    await a.log.append(id, [out('mine\n')]);
    await a.commands.update(id, { spool: { pgid: 1, stdout: 5, stderr: 0 } });
    expect(await a.log.durableSeq(id)).toBe(1);

    // Another replica takes the command over.
    const b = await open(url, 'b');
    await b.pool.query("UPDATE commands SET epoch = 2, owner = 'b' WHERE id = $1", [id]);

    await a.log.append(id, [out('too late\n')]);
    const update = a.commands.update(id, { status: 'SUCCEEDED', exitCode: 0, spool: { pgid: 1, stdout: 14, stderr: 0 } });
    await expect(update).rejects.toBeInstanceOf(FencedError);
    await expect(update).rejects.toMatchObject({ name: 'FencedError', commandId: id });
    expect(fenced).toEqual([id]);
    expect(a.fence.epoch(id)).toBeUndefined();
    await expect(a.log.append(id, [out('and after\n')])).rejects.toBeInstanceOf(FencedError);
    await expect(a.commands.update(id, { status: 'FAILED' })).rejects.toBeInstanceOf(FencedError);

    expect((await b.log.read(id, 0, 10)).map((e) => (e as { text: string }).text)).toEqual(['mine\n']);
    const row = await b.pool.query('SELECT status, stdout_offset, epoch, owner FROM commands WHERE id = $1', [id]);
    expect(row.rows).toEqual([{ status: 'RUNNING', stdout_offset: 5, epoch: 2, owner: 'b' }]);
    // The new owner numbers on from what is in the table.
    b.fence.hold(id, 2);
    expect((await b.log.append(id, [out('b now\n')]))[0]!.seq).toBe(2);
  });

  it('writes the commands it does not hold without an epoch check', async () => {
    const { a, b, id } = await twoReplicas();
    await a.pool.query('UPDATE commands SET epoch = 5 WHERE id = $1', [id]);
    await b.commands.update(id, { status: 'CANCELED', error: 'canceled' });
    expect(await a.commands.get(id)).toMatchObject({ status: 'RUNNING' }); // a's live object
    expect((await b.pool.query('SELECT status FROM commands WHERE id = $1', [id])).rows).toEqual([{ status: 'CANCELED' }]);
  });
});

describe('postgres write throughput', () => {
  it('makes 100,000 appended events durable and readable on another replica', async () => {
    const { a, b, id } = await twoReplicas();
    const line = 'x'.repeat(80) + '\n';
    const start = performance.now();
    let appended = 0;
    for (let i = 0; i < 100; i++)
      appended += (
        await a.log.append(
          id,
          Array.from({ length: 1000 }, () => out(line)),
        )
      ).length;
    const queuedMs = performance.now() - start;
    await vi.waitFor(async () => expect(await a.log.durableSeq(id)).toBe(100_000), { timeout: 120_000, interval: 20 });
    const durableMs = performance.now() - start;
    expect(appended).toBe(100_000);
    const following = collect(b.log.follow(id, 99_000, new AbortController().signal));
    await a.log.append(id, [completed]);
    expect((await following).length).toBe(1001);
    console.log(`postgres: 100,000 events (8.1 MB) queued in ${Math.round(queuedMs)} ms, durable ${Math.round(durableMs)} ms after the first append`);
  });
});
