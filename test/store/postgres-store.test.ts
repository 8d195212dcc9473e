// The PostgreSQL store's schema, command records and idempotency keys, on a real server
// (test/support/postgres.ts): one cluster for the file, one database per test.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { NewCommand } from '../../src/runs/command-store.js';
import { IDEMPOTENCY_WINDOW_MS } from '../../src/store/idempotency.js';
import { openPgStore, PG_SCHEMA_VERSION, type PgStore, type PgStoreOptions } from '../../src/store/postgres/index.js';
import { usePgStores } from './pg-fixture.js';

const stores = usePgStores('store');
/** A fresh, empty database. */
const freshDatabase = (): Promise<string> => stores.freshDatabase();
async function open(url: string, options: Partial<PgStoreOptions> = {}): Promise<PgStore> {
  return stores.open({ url, replicaId: 'r1', flushMs: 10, ...options });
}

async function sql<R extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

const draft = (projectId = 'demo', over: Partial<NewCommand> = {}): NewCommand => ({
  projectId,
  kind: 'SHELL',
  argv: ['sh', '-c', 'echo "hi"'],
  workdir: '',
  timeoutSeconds: 600,
  status: 'QUEUED',
  exitCode: null,
  error: null,
  createdAt: new Date('2026-11-25T10:00:00.123Z'),
  startedAt: null,
  finishedAt: null,
  durationMs: null,
  claude: null,
  prunedAt: null,
  spool: null,
  ...over,
});

describe('postgres schema', () => {
  it('runs each migration once when three replicas open one empty database at once', async () => {
    const url = await freshDatabase();
    await Promise.all(['a', 'b', 'c'].map((replicaId) => open(url, { replicaId })));
    const rows = await sql<{ version: number }>(url, 'SELECT version FROM schema_migrations ORDER BY version');
    expect(rows).toEqual(Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })));
  });

  it('refuses a database whose schema is newer than the code', async () => {
    const url = await freshDatabase();
    await (await open(url)).close();
    await sql(url, 'INSERT INTO schema_migrations (version) VALUES ($1)', [PG_SCHEMA_VERSION + 1]);
    await expect(openPgStore({ url, replicaId: 'r1' })).rejects.toThrow(/newer than this build/);
  });

  it('gives bigint columns back as numbers through the store pool', async () => {
    const store = await open(await freshDatabase());
    const { rows } = await store.pool.query<{ n: unknown }>('SELECT 9007199254740991::bigint AS n');
    expect(rows[0]!.n).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('postgres command store', () => {
  it('never gives the same ordinal twice when two replicas insert at once', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url, { replicaId: 'a' }), open(url, { replicaId: 'b' })]);
    const inserted = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).commands.insert(draft(`p${i % 3}`))));
    const ordinals = inserted.map((c) => c.ordinal);
    expect(new Set(ordinals).size).toBe(100);
    expect(ordinals.every((n) => Number.isInteger(n) && n >= 1 && n <= 100)).toBe(true);
    expect(new Set(inserted.map((c) => c.id)).size).toBe(100);
    for (const c of inserted) expect(c.id).toMatch(new RegExp(`^cmd-${c.projectId}-${c.ordinal.toString(36).padStart(4, '0')}[0-9a-f]{6}$`));
    const rows = await sql<{ n: string }>(url, 'SELECT count(*) AS n FROM commands');
    expect(Number(rows[0]!.n)).toBe(100);
  });

  it('reads back on another replica exactly what one replica inserted and updated', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url, { replicaId: 'a' }), open(url, { replicaId: 'b' })]);
    const command = await a.commands.insert(draft('demo', { kind: 'CLAUDE', argv: ['claude', '-p', 'héllo "wörld"\n'] }));
    const started = new Date('2026-11-25T10:00:01.500Z');
    const updated = a.commands.update(command.id, { status: 'RUNNING', startedAt: started, spool: { pgid: 4242, stdout: 10, stderr: 3 } });
    // The patch is on the live object before the write.
    expect(command.status).toBe('RUNNING');
    await expect(updated).resolves.toBe(command);
    const finished = new Date('2026-11-25T10:00:04.000Z');
    const claude = {
      sessionId: 's1',
      model: 'm',
      costUsd: 0.25,
      numTurns: 3,
      durationMs: 2500,
      result: 'done',
      isError: false,
      inputTokens: 1,
      outputTokens: 2,
    };
    await a.commands.update(command.id, {
      status: 'SUCCEEDED',
      exitCode: 0,
      finishedAt: finished,
      durationMs: 2500,
      claude: claude as never,
      spool: { pgid: 4242, stdout: 100, stderr: 7 },
    });
    expect(await b.commands.get(command.id)).toEqual(command);
    expect(a.commands.isLive(command.id)).toBe(false);
  });

  it('updates only the Command columns: owner, epoch, lease and stop requests stay as the coordination code wrote them', async () => {
    const url = await freshDatabase();
    const store = await open(url);
    const command = await store.commands.insert(draft());
    await sql(url, "UPDATE commands SET owner = 'r9', epoch = 7, lease_until = now() + interval '1 minute', stop_requested = 'cancel' WHERE id = $1", [
      command.id,
    ]);
    await store.commands.update(command.id, { status: 'RUNNING' });
    const rows = await sql<{ owner: string; epoch: string; stop_requested: string; status: string; has_lease: boolean }>(
      url,
      'SELECT owner, epoch, stop_requested, status, lease_until IS NOT NULL AS has_lease FROM commands WHERE id = $1',
      [command.id],
    );
    expect(rows).toEqual([{ owner: 'r9', epoch: '7', stop_requested: 'cancel', status: 'RUNNING', has_lease: true }]);
  });

  it('updates a command it does not hold by loading its row, in call order', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url, { replicaId: 'a' }), open(url, { replicaId: 'b' })]);
    const command = await a.commands.insert(draft());
    const first = b.commands.update(command.id, { status: 'RUNNING', startedAt: new Date(5) });
    const second = b.commands.update(command.id, { status: 'CANCELED', error: 'canceled by b' });
    const [one, two] = await Promise.all([first, second]);
    expect(one).toBe(two);
    // a holds its own live object until the coordination code tells it that another replica took the command.
    expect(await a.commands.get(command.id)).toBe(command);
    a.commands.dropLive(command.id);
    expect(await a.commands.get(command.id)).toMatchObject({ status: 'CANCELED', error: 'canceled by b', startedAt: new Date(5) });
    const row = await sql<{ status: string; error: string; started_at: string }>(url, 'SELECT status, error, started_at FROM commands WHERE id = $1', [
      command.id,
    ]);
    expect(row).toEqual([{ status: 'CANCELED', error: 'canceled by b', started_at: '5' }]);
    await expect(b.commands.update('cmd-nope', { status: 'LOST' })).rejects.toThrow(/no command cmd-nope/);
  });

  it('lists newest first with filters, live state over written rows, and a cursor', async () => {
    const url = await freshDatabase();
    const store = await open(url);
    const made = [];
    for (let i = 0; i < 6; i++) made.push(await store.commands.insert(draft(i % 2 === 0 ? 'even' : 'odd', { kind: i < 3 ? 'SHELL' : 'GIT' })));
    // Changed in memory; the list must show the change whether or not the row was written yet.
    const pending = store.commands.update(made[4]!.id, { status: 'RUNNING' });
    const running = await store.commands.list({ status: 'RUNNING', limit: 10 });
    expect(running.map((c) => c.id)).toEqual([made[4]!.id]);
    await pending;
    const evens = await store.commands.list({ projectId: 'even', limit: 1 });
    expect(evens.map((c) => c.ordinal)).toEqual([made[4]!.ordinal, made[2]!.ordinal]);
    const page = await store.commands.list({ projectIds: new Set(['odd', 'even']), kind: 'SHELL', beforeOrdinal: made[2]!.ordinal, limit: 5 });
    expect(page.map((c) => c.id)).toEqual([made[1]!.id, made[0]!.id]);
  });

  it('adopts a command read with the coordination code’s own SQL as the live record', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url, { replicaId: 'a' }), open(url, { replicaId: 'b' })]);
    const { commandOf } = await import('../../src/store/postgres/index.js');
    const inserted = await a.commands.insert(draft());
    const { rows } = await b.pool.query('SELECT * FROM commands WHERE id = $1', [inserted.id]);
    const adopted = commandOf(rows[0]);
    expect(adopted).toEqual(inserted);
    b.commands.adoptLive(adopted);
    expect(b.commands.isLive(inserted.id)).toBe(true);
    expect(await b.commands.get(inserted.id)).toBe(adopted);
    await b.commands.update(inserted.id, { status: 'RUNNING' });
    expect(adopted.status).toBe('RUNNING');
  });
});

describe('postgres idempotency', () => {
  const t0 = Date.parse('2026-11-25T10:00:00Z');

  it('finds what a caller recorded with a key, on another replica, only for that caller and key', async () => {
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url, { replicaId: 'a' }), open(url, { replicaId: 'b' })]);
    expect(await b.idempotency.find('bot', 'k1', t0)).toBeUndefined();
    await a.idempotency.record('bot', 'k1', 'cmd-1', t0);
    expect(await b.idempotency.find('bot', 'k1', t0 + 1000)).toBe('cmd-1');
    expect(await b.idempotency.find('other-bot', 'k1', t0 + 1000)).toBeUndefined();
    expect(await b.idempotency.find('bot', 'k2', t0 + 1000)).toBeUndefined();
  });

  it('forgets a key after the window, lets it name a new command then, and keeps the first within it', async () => {
    const store = await open(await freshDatabase());
    await store.idempotency.record('bot', 'k1', 'cmd-1', t0);
    await store.idempotency.record('bot', 'k1', 'cmd-other', t0 + 10);
    expect(await store.idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS - 1)).toBe('cmd-1');
    expect(await store.idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS)).toBeUndefined();
    await store.idempotency.record('bot', 'k1', 'cmd-2', t0 + IDEMPOTENCY_WINDOW_MS + 5);
    expect(await store.idempotency.find('bot', 'k1', t0 + IDEMPOTENCY_WINDOW_MS + 10)).toBe('cmd-2');
  });

  it('drops expired keys as new ones are recorded', async () => {
    const url = await freshDatabase();
    const store = await open(url);
    await store.idempotency.record('bot', 'old', 'cmd-1', t0);
    await store.idempotency.record('bot', 'young', 'cmd-2', t0 + IDEMPOTENCY_WINDOW_MS - 100);
    await store.idempotency.record('bot', 'new', 'cmd-3', t0 + IDEMPOTENCY_WINDOW_MS + 1);
    const keys = await sql<{ key: string }>(url, 'SELECT key FROM idempotency ORDER BY key');
    expect(keys.map((k) => k.key)).toEqual(['new', 'young']);
  });
});
