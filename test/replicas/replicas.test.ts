// Several replicas on one PostgreSQL (DESIGN.md "Replicas"), as three real server processes on
// one throwaway database and the Kubernetes API test server: a command started on one replica is
// followed byte-exact on the others; a replica SIGKILLed mid-command has it taken over within the
// lease (3 s here) and it ends SUCCEEDED with every byte once, also for subscribers that move to
// another replica with `after` / Last-Event-ID; a replica paused past its lease appends nothing
// after the take-over; limits, queue order and idempotency keys hold across the replicas; a
// PostgreSQL restart mid-stream loses nothing and turns /ready 503, then 200.
import { createHash } from 'node:crypto';
import { EventSource } from 'eventsource';
import { createClient } from 'graphql-sse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, gqlData, runShell, waitFinal } from '../api/client.js';
import { resumingSubscriber, type Event } from '../durability/resuming-subscriber.js';
import { pollUntil } from '../durability/server-process.js';
import { startReplicaSet, type ReplicaSet } from './replica-set.js';

const LINES = 160;
const COUNTER = `i=0; while [ $i -lt ${LINES} ]; do i=$((i+1)); echo "line $i"; sleep 0.05; done`;
const COUNTER_TEXT = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join('');
const OUTPUT = `query($id: ID!) { command(id: $id) { output(first: 1000) { seq stream text } } }`;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const stdoutOf = (events: Event[]): string =>
  events
    .filter((e) => e.__typename === 'CommandOutput' && e.stream === 'STDOUT')
    .map((e) => e.text)
    .join('');

const PROJECT_EVENTS = `subscription { projectEvents(projectId: "demo") {
  __typename
  ... on CommandStatusChanged { commandId status }
  ... on ProjectCommandEvent { commandId event { __typename ... on CommandOutput { seq stream text } ... on CommandCompleted { seq status } } }
} }`;

/** A projectEvents subscriber on one replica: every status change and log event of the project, live. */
function projectSubscriber(url: string): { events: any[]; close(): void } {
  const events: any[] = [];
  const client = createClient({ url: `${url}/graphql/stream`, retryAttempts: 0 });
  const stop = client.subscribe({ query: PROJECT_EVENTS }, { next: (r) => events.push((r.data as any).projectEvents), error: () => {}, complete: () => {} });
  return {
    events,
    close() {
      stop();
      client.dispose();
    },
  };
}

/** A Prometheus sample of `/metrics` (0 when absent). */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** Checks what a subscriber saw: seq 1, 2, 3, … with no gap or repeat, the exact output, and the end. */
function expectWhole(events: Event[], text: string): void {
  const seqs = events.map((e) => e.seq);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  expect(sha256(stdoutOf(events))).toBe(sha256(text));
  expect(events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'SUCCEEDED', exitCode: 0 });
}

describe('replicas on PostgreSQL', () => {
  let set: ReplicaSet;
  /** The `n` of a `SELECT count(*)::int AS n …`. */
  const count = async (text: string, values?: unknown[]): Promise<number> => (await set.sql<{ n: number }>(text, values))[0]!.n;

  beforeAll(async () => {
    set = await startReplicaSet({ env: { RDEV_MAX_CONCURRENT_PER_PROJECT: '2' } });
  });

  afterAll(async () => {
    if (process.env.REPLICA_LOGS)
      for (const [name, server] of set?.replicas ?? []) (await import('node:fs')).writeFileSync(`${process.env.REPLICA_LOGS}/${name}.log`, server.log());
    await set?.close();
  });

  it(
    'a command started on A is followed live on B and C (its own stream and the project stream); ' +
      'SIGKILL A mid-command: B or C takes it over within the lease, it ends SUCCEEDED byte-exact, ' +
      'and subscribers that move replicas see no gap or repeat',
    async () => {
      // On both survivors: whichever takes the command over, the other hears of its end only from the database.
      const projects = ['b', 'c'].map((name) => projectSubscriber(set.url(name)));
      for (const name of ['b', 'c'])
        await pollUntil(
          `the project subscription on ${name}`,
          () => metric(set.url(name), 'rdev_graphql_subscriptions_open'),
          (n) => n >= 1,
          30_000,
        );
      const id = await runShell(set.url('a'), 'demo', COUNTER);
      const onB = resumingSubscriber(() => set.url('b'), id, 300);
      const onC = resumingSubscriber(() => set.url('c'), id, 300);
      // Starts on A, moves to B when A dies.
      let home = 'a';
      const mover = resumingSubscriber(() => set.url(home), id, 300);
      const rest = new EventSource(`${set.url('b')}/projects/demo/events?stream_id=${id}`);
      const frames: Array<{ id: string; event: string; data: any }> = [];
      const restDone = new Promise<void>((resolve) => {
        const take = (event: string) => (e: MessageEvent) => {
          frames.push({ id: e.lastEventId, event, data: JSON.parse(e.data as string) });
          if (event === 'complete') {
            rest.close();
            resolve();
          }
        };
        rest.addEventListener('output', take('output'));
        rest.addEventListener('complete', take('complete'));
      });
      try {
        await pollUntil(
          'output on B and C before the kill',
          () => Math.min(onB.events.length, onC.events.length, mover.events.length),
          (n) => n >= 5,
          30_000,
        );
        const [before] = await set.sql<{ owner: string; epoch: number }>('SELECT owner, epoch::int AS epoch FROM commands WHERE id = $1', [id]);
        expect(before).toEqual({ owner: 'a', epoch: 1 });
        const killedAt = performance.now();
        await set.replicas.get('a')!.kill();
        home = 'b';
        const taken = await pollUntil(
          'a take-over',
          () => set.sql<{ owner: string; epoch: number }>('SELECT owner, epoch::int AS epoch FROM commands WHERE id = $1', [id]),
          (rows) => rows[0]!.owner !== 'a',
          30_000,
        );
        const tookMs = performance.now() - killedAt;
        expect({ owner: ['b', 'c'].includes(taken[0]!.owner), epoch: taken[0]!.epoch }).toEqual({ owner: true, epoch: 2 });
        // The lease is 3 s, checked every second by each replica: about 1–4 s; the bound is loose for a busy machine,
        // and far below what a command without leases would wait (RDEV_REATTACH_SECONDS, 120 s).
        console.log(`take-over ${Math.round(tookMs)} ms after the SIGKILL (lease 3 s)`);
        expect(tookMs).toBeLessThan(15_000);

        const final = await waitFinal(set.url('c'), id, 60_000);
        expect({ status: final.status, exitCode: final.exitCode, error: final.error }).toEqual({ status: 'SUCCEEDED', exitCode: 0, error: null });
        const stored = (await gqlData<{ command: { output: Event[] } }>(set.url('b'), OUTPUT, { id })).command.output;
        expect(
          sha256(
            stored
              .filter((e) => e.stream === 'STDOUT')
              .map((e) => e.text)
              .join(''),
          ),
        ).toBe(sha256(COUNTER_TEXT));
        for (const subscriber of [onB, onC, mover]) {
          await subscriber.done;
          expectWhole(subscriber.events, COUNTER_TEXT);
        }
        await restDone;
        const lines = frames.filter((f) => f.event === 'output').map((f) => `${f.data.line}\n`);
        expect(sha256(lines.join(''))).toBe(sha256(COUNTER_TEXT));
        expect(frames.at(-1)).toMatchObject({ event: 'complete', data: { exit_code: 0, status: 'succeeded' } });

        // The project's subscribers on B and C heard the command start and end, and every one of its events once.
        for (const project of projects) {
          await pollUntil(
            'the end on the project stream',
            () => project.events,
            (es) => es.some((e) => e.commandId === id && e.status === 'SUCCEEDED'),
            30_000,
          );
          const mine = project.events.filter((e) => e.commandId === id);
          expect(mine.filter((e) => e.__typename === 'CommandStatusChanged').map((e) => e.status)).toEqual(expect.arrayContaining(['RUNNING', 'SUCCEEDED']));
          const logged = mine.filter((e) => e.__typename === 'ProjectCommandEvent').map((e) => e.event);
          expect(logged.map((e) => e.seq)).toEqual(Array.from({ length: logged.length }, (_, i) => i + 1));
          expect(
            sha256(
              logged
                .filter((e) => e.__typename === 'CommandOutput')
                .map((e) => e.text)
                .join(''),
            ),
          ).toBe(sha256(COUNTER_TEXT));
        }

        // The taker counts its take-over; every replica left says the database is up.
        expect(await metric(set.url(taken[0]!.owner), 'rdev_lease_takeovers_total')).toBeGreaterThanOrEqual(1);
        for (const name of ['b', 'c']) expect(await metric(set.url(name), 'rdev_database_up')).toBe(1);
      } finally {
        for (const project of projects) project.close();
        rest.close();
        await set.restart('a');
      }
    },
  );

  it('a replica paused past its lease (SIGSTOP) appends nothing once resumed: the command ends SUCCEEDED with every byte once', async () => {
    const id = await runShell(set.url('a'), 'demo', COUNTER);
    const onC = resumingSubscriber(() => set.url('c'), id, 300);
    const a = set.replicas.get('a')!;
    try {
      await pollUntil(
        'output before the pause',
        () => onC.events.length,
        (n) => n >= 5,
        30_000,
      );
      a.child.kill('SIGSTOP');
      await pollUntil(
        'a take-over',
        () => set.sql<{ owner: string }>('SELECT owner FROM commands WHERE id = $1', [id]),
        (rows) => rows[0]!.owner !== 'a',
        30_000,
      );
      const before = await count('SELECT count(*)::int AS n FROM events WHERE command_id = $1', [id]);
      a.child.kill('SIGCONT');
      const final = await waitFinal(set.url('b'), id, 60_000);
      expect({ status: final.status, exitCode: final.exitCode }).toEqual({ status: 'SUCCEEDED', exitCode: 0 });
      await onC.done;
      expectWhole(onC.events, COUNTER_TEXT);
      const rows = await set.sql<{ seq: number }>('SELECT seq::int AS seq FROM events WHERE command_id = $1 ORDER BY seq', [id]);
      expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: rows.length }, (_, i) => i + 1));
      expect(rows.length).toBeGreaterThan(before);
      // A said so when it woke: its lease was gone, and it let the command go.
      await pollUntil(
        'A notices its lost lease',
        () => a.log(),
        (log) => /lease lost|another replica/.test(log),
        30_000,
      );
    } finally {
      a.child.kill('SIGCONT');
    }
  });

  it(
    'SIGTERM (a deploy) hands the leases over at once: the command is taken over without waiting ' +
      'for the lease to run out, and ends SUCCEEDED with every byte once',
    async () => {
      const id = await runShell(set.url('a'), 'demo', COUNTER);
      const onB = resumingSubscriber(() => set.url('b'), id, 300);
      try {
        await pollUntil(
          'output before the SIGTERM',
          () => onB.events.length,
          (n) => n >= 5,
          30_000,
        );
        const a = set.replicas.get('a')!;
        a.child.kill('SIGTERM');
        expect(await a.exited).toBe(0);
        // Released on the way out: the lease is already over (or the command already has a new owner).
        const [row] = await set.sql<{ owner: string; released: boolean }>('SELECT owner, lease_until < now() AS released FROM commands WHERE id = $1', [id]);
        expect(row!.owner !== 'a' || row!.released).toBe(true);
        const final = await waitFinal(set.url('c'), id, 60_000);
        expect({ status: final.status, exitCode: final.exitCode }).toEqual({ status: 'SUCCEEDED', exitCode: 0 });
        await onB.done;
        expectWhole(onB.events, COUNTER_TEXT);
      } finally {
        await set.restart('a');
      }
    },
  );

  it('20 commands at once over three replicas with 2 per project: never more than 2 running, the rest in order', async () => {
    const names = ['a', 'b', 'c'];
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = await count("SELECT count(*)::int AS n FROM commands WHERE status = 'RUNNING' AND project_id = 'demo'");
        most = Math.max(most, n);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => runShell(set.url(names[i % 3]!), 'demo', `sleep 0.2; echo ${i}`)));
    const finals = await Promise.all(ids.map((id) => waitFinal(set.url('a'), id, 120_000)));
    sampling = false;
    await sampler;
    expect(finals.map((f) => f.status)).toEqual(ids.map(() => 'SUCCEEDED'));
    expect(most).toBe(2);
    const rows = await set.sql<{ id: string; ordinal: number; started_at: number }>(
      'SELECT id, ordinal, started_at FROM commands WHERE id = ANY($1) ORDER BY started_at, ordinal',
      [ids],
    );
    const ordinals = rows.map((r) => r.ordinal);
    expect(ordinals).toEqual([...ordinals].sort((x, y) => x - y));
  });

  it('the same idempotencyKey sent to two replicas at the same moment starts one command', async () => {
    const RUN = `mutation($input: RunShellInput!) { runShell(input: $input) { id } }`;
    for (let round = 0; round < 5; round++) {
      const input = { projectId: 'demo', command: 'echo once', idempotencyKey: `key-${round}-${Date.now()}` };
      const [x, y] = await Promise.all(['b', 'c'].map((name) => gqlData<{ runShell: { id: string } }>(set.url(name), RUN, { input })));
      expect(x!.runShell.id).toBe(y!.runShell.id);
      const n = await count('SELECT count(*)::int AS n FROM idempotency WHERE key = $1', [input.idempotencyKey]);
      expect(n).toBe(1);
    }
  });

  it('PostgreSQL restarted mid-stream: nothing lost, /ready 503 while it is away, then 200', async () => {
    const id = await runShell(set.url('b'), 'demo', COUNTER);
    const onA = resumingSubscriber(() => set.url('a'), id, 300);
    await pollUntil(
      'output before the restart',
      () => onA.events.length,
      (n) => n >= 5,
      30_000,
    );
    await set.postgres.stop();
    const down = await pollUntil(
      '/ready 503',
      () => fetch(`${set.url('b')}/ready`).then((r) => r.status),
      (s) => s === 503,
      30_000,
    );
    expect(down).toBe(503);
    expect((await fetch(`${set.url('b')}/health`)).status).toBe(200);
    await set.postgres.start();
    await pollUntil(
      '/ready 200',
      () => fetch(`${set.url('b')}/ready`).then((r) => r.status),
      (s) => s === 200,
      30_000,
    );
    const final = await waitFinal(set.url('c'), id, 90_000);
    expect({ status: final.status, exitCode: final.exitCode }).toEqual({ status: 'SUCCEEDED', exitCode: 0 });
    await onA.done;
    expectWhole(onA.events, COUNTER_TEXT);
  });
});

describe('limits shared by replicas', () => {
  let set: ReplicaSet;

  beforeAll(async () => {
    set = await startReplicaSet({ names: ['a', 'b'], env: { RDEV_MUTATIONS_PER_MINUTE: '4', RDEV_MAX_CONCURRENT_PER_PROJECT: '1', RDEV_MAX_QUEUED: '2' } });
  });

  afterAll(async () => {
    await set?.close();
  });

  it('the queue bound and the per-token rate limit count every replica: two replicas do not mean twice the limit', async () => {
    const RUN = `mutation($input: RunShellInput!) { runShell(input: $input) { id status } }`;
    const run = (name: string) => gql<{ runShell: { id: string; status: string } }>(set.url(name), RUN, { input: { projectId: 'demo', command: 'sleep 300' } });
    const first = await run('a');
    const second = await run('b');
    const third = await run('a');
    expect([first, second, third].map((r) => r.data?.runShell.status)).toEqual(['RUNNING', 'QUEUED', 'QUEUED']);
    // One running, two queued across both replicas: the queue (2) is full wherever the next one comes in.
    const fourth = await run('b');
    expect(fourth.errors?.[0]?.extensions?.code).toBe('TOO_MANY_COMMANDS');
    // Four mutations a minute for this caller, counted over both replicas: the fifth is refused on either.
    for (const name of ['a', 'b']) expect((await run(name)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
    const ids = [first, second, third].map((r) => r.data!.runShell.id);
    const CANCEL = `mutation($id: ID!) { cancelCommand(id: $id) { id } }`;
    // Cancels from the other replica than the one that runs or queued each.
    for (const id of ids) await gqlData(set.url('b'), CANCEL, { id });
    const finals = await Promise.all(ids.map((id) => waitFinal(set.url('a'), id, 60_000)));
    expect(finals.map((f) => f.status)).toEqual(['CANCELED', 'CANCELED', 'CANCELED']);
  });
});
