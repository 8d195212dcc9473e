import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient, type ExecutionResult } from 'graphql-sse';
import { cpuMsOf } from './cpu.js';
import { rssKiB } from '../test/durability/server-process.js';
import { count, gql, row, runShell, spawnKubectlExec, type Wire } from './wire-setup.js';

/**
 * Rows P3 and P4 of issue 14 ("As fast as the wire").
 *
 * P3: many graphql-sse subscribers (distinct connections, one client) on one command printing its
 * clock every 50 ms (`date +%s%3N`, as `replicas-latency.ts` does), against the bare Yoga whose
 * one publisher fans the lines of the same shell loop (a process of its own) through its pubsub to
 * the same number of clients.
 * Subscribers join in waves of {@link WAVE} (the next once the last has its `ready`), then a go
 * (a file the command waits for; a line on the bare Yoga's stdin) starts the clock. Latency =
 * receive time − the timestamp; lines of the first second are left out (warm-up).
 *
 * P4: the server's RSS (`/proc/<pid>/status`) grown by 50 running `sleep 60` commands, and by 500
 * idle subscriptions (to a command that printed `ready` and sleeps), per command / subscription,
 * against the RSS of one `kubectl exec -- sleep 5` process.
 */

const WAVE = 100;
const WARMUP_MS = 1_000;
const SUBSCRIPTION =
  'subscription($id: ID!) { commandEvents(id: $id, after: 0) { __typename ... on CommandOutput { text } ... on CommandCompleted { status } } }';

interface Source {
  url: string;
  query: string;
  variables: Record<string, unknown>;
  /** The text lines a result carries. */
  lines(result: ExecutionResult<Record<string, unknown>, unknown>): string[];
  go(): void;
}

/** p50 and p99 (nearest rank). */
function percentiles(xs: number[]): { p50: number; p99: number; max: number } {
  const sorted = Float64Array.from(xs).sort();
  const at = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

/** `subscribers` clients join in waves, the clock goes, every stream is followed to its end. */
async function fanout(
  source: Source,
  subscribers: number,
  expectLines: number,
  cpuPid: number,
  /** A process beside the server whose CPU competes with it in the clock (the Kubernetes API test server's relay). */
  besidePid?: number,
): Promise<{ latencies: number[]; received: number; joinMs: number; clockMs: number; cpuMs: number; besideMs?: number; clientMs: number }> {
  const client = createClient({ url: `${source.url}/graphql/stream`, retryAttempts: 0 });
  const latencies: number[] = [];
  let received = 0;
  let failed: (err: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  failure.catch(() => {});
  // A round that has not every line by then is reported with what came (the lines received are printed), not failed.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((r) => (timer = setTimeout(r, expectLines * 50 + 45_000)));
  try {
    const t = performance.now();
    const followers: Array<Promise<void>> = [];
    for (let i = 0; i < subscribers; i += WAVE) {
      const wave = Array.from({ length: Math.min(WAVE, subscribers - i) }, () => {
        let isReady: () => void = () => {};
        const ready = new Promise<void>((r) => (isReady = r));
        let first: number | undefined;
        let mine = 0;
        const done = new Promise<void>((resolve) =>
          client.subscribe(
            { query: source.query, variables: source.variables },
            {
              next(result) {
                const now = Date.now();
                if (result.errors) return failed(new Error(JSON.stringify(result.errors)));
                for (const line of source.lines(result)) {
                  if (line === 'ready') isReady();
                  if (line === 'ready' || line === '') continue;
                  const at = Number(line);
                  first ??= at;
                  received++;
                  if (at - first >= WARMUP_MS) latencies.push(now - at);
                  // Done at the last line, not at the stream's end: the bare Yoga took up to 40 s more to end 1,000 streams.
                  if (++mine === expectLines) resolve();
                }
              },
              error: (err) => failed(err instanceof Error ? err : new Error(JSON.stringify(err))),
              complete: resolve,
            },
          ),
        );
        followers.push(done);
        return ready;
      });
      await Promise.race([Promise.all(wave), failure, deadline]);
    }
    const joinMs = performance.now() - t;
    const cpu = cpuMsOf(cpuPid);
    const beside = besidePid === undefined ? undefined : cpuMsOf(besidePid);
    const client0 = process.cpuUsage();
    const go = performance.now();
    source.go();
    await Promise.race([Promise.all(followers), failure, deadline]);
    const { user, system } = process.cpuUsage(client0);
    return {
      latencies,
      received,
      joinMs,
      clockMs: performance.now() - go,
      cpuMs: cpuMsOf(cpuPid) - cpu,
      ...(beside === undefined ? {} : { besideMs: cpuMsOf(besidePid!) - beside }),
      clientMs: Math.round((user + system) / 1000),
    };
  } finally {
    clearTimeout(timer);
    client.dispose();
  }
}

/** P3: p50/p99 delivery latency to 1,000 subscribers, the server vs the bare Yoga. */
export async function p3(w: Wire): Promise<void> {
  const subscribers = count('BENCH_P3_SUBSCRIBERS', 1000);
  const lines = count('BENCH_P3_LINES', 200);
  const signals = mkdtempSync(path.join(tmpdir(), 'rdev-bench-p3-'));
  const server = async (n: number, k: number) => {
    const go = path.join(signals, `go-${Date.now()}`);
    const id = await runShell(
      w.server.url,
      `echo ready; while [ ! -e ${go} ]; do sleep 0.01; done; i=0; while [ $i -lt ${k} ]; do date +%s%3N; sleep 0.05; i=$((i+1)); done`,
    );
    const source: Source = {
      url: w.server.url,
      query: SUBSCRIPTION,
      variables: { id },
      lines: (r) => {
        const e = r.data?.commandEvents as { __typename: string; text?: string };
        return e.__typename === 'CommandOutput' ? e.text!.split('\n') : [];
      },
      go: () => writeFileSync(go, ''),
    };
    try {
      return await fanout(source, n, k, w.server.pid, w.kube.pid);
    } finally {
      if (existsSync(go)) rmSync(go);
    }
  };
  const bare = (n: number, k: number) =>
    fanout(
      { url: w.bare.url, query: 'subscription { clock }', variables: {}, lines: (r) => String(r.data?.clock).split('\n'), go: () => w.bare.go(k) },
      n,
      k,
      w.bare.pid,
    );
  try {
    await server(WAVE, 20); // warm-up
    await bare(WAVE, 20);
    const ours = await server(subscribers, lines);
    const anchor = await bare(subscribers, lines);
    const [a, b] = [percentiles(ours.latencies), percentiles(anchor.latencies)];
    const of = (name: string, r: typeof ours, p: typeof a) =>
      `${name} p50 ${p.p50} ms p99 ${p.p99} ms max ${p.max} ms (${r.received} of ${subscribers * lines} ` +
      `lines, join ${r.joinMs.toFixed(0)} ms; go → every subscriber had its last line ${r.clockMs.toFixed(0)} ` +
      `ms, the process's CPU meanwhile ${r.cpuMs} ms` +
      `${r.besideMs === undefined ? '' : `, the Kubernetes API test server's ${r.besideMs} ms`}, the subscribers' (this process) ${r.clientMs} ms)`;
    row(
      'P3',
      `${subscribers} graphql-sse subscribers on one command printing a timestamp every 50 ms (${lines} lines; the first ${WARMUP_MS} ms left out)`,
      `${of('server', ours, a)}\n      ${of('bare Yoga pubsub', anchor, b)}`,
      `p50 ${(a.p50 / b.p50).toFixed(2)} ×  p99 ${(a.p99 / b.p99).toFixed(2)} × the bare server's`,
      '≤ 1.2 × the bare p50 and p99',
    );
  } finally {
    rmSync(signals, { recursive: true, force: true });
  }
}

/** The server's RSS in KiB once it settled: the least of a few reads a quarter second apart. */
async function settledRss(pid: number): Promise<number> {
  const reads: number[] = [];
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 250));
    reads.push(rssKiB(pid));
  }
  return Math.min(...reads);
}

async function statusOf(url: string, id: string): Promise<string> {
  return (await gql<{ command: { status: string } }>(url, 'query($id: ID!) { command(id: $id) { status } }', { id })).command.status;
}

/** P4: server RSS per running command and per idle subscription vs one `kubectl exec` process. */
export async function p4(w: Wire): Promise<void> {
  const commands = count('BENCH_P4_COMMANDS', 50);
  const idle = count('BENCH_P4_SUBSCRIPTIONS', 500);
  const url = w.server.url;
  const ids: string[] = [];
  const client = createClient({ url: `${url}/graphql/stream`, retryAttempts: 0 });
  const unsubscribers: Array<() => void> = [];
  try {
    // Two batches of the same commands: the first after start also carries what a server pays once (code compiled on
    // first use, the heap grown to its working size); the second, after the first was canceled, is what one more
    // running command costs. Both are printed; the goal is the second's.
    const cold = await runningBatch(w.server.pid, url, commands, ids);
    await Promise.all(ids.splice(0).map((id) => cancel(url, id)));
    const warm = await runningBatch(w.server.pid, url, commands, ids);
    const [before, running] = warm;

    const target = await runShell(url, 'echo ready; sleep 60');
    ids.push(target);
    const base = await settledRss(w.server.pid);
    for (let i = 0; i < idle; i += WAVE) {
      await Promise.all(
        Array.from(
          { length: Math.min(WAVE, idle - i) },
          () =>
            new Promise<void>((resolve, reject) => {
              unsubscribers.push(
                client.subscribe(
                  { query: SUBSCRIPTION, variables: { id: target } },
                  {
                    next: (r) => {
                      const e = r.data?.commandEvents as { text?: string };
                      if (e.text?.includes('ready')) resolve();
                    },
                    error: reject,
                    complete: () => reject(new Error('P4: an idle subscription ended')),
                  },
                ),
              );
            }),
        ),
      );
    }
    const subscribed = await settledRss(w.server.pid);

    const kubectl = spawnKubectlExec(w.kube, ['sleep', '5']);
    const closed = new Promise((r) => kubectl.on('close', r));
    await new Promise((r) => setTimeout(r, 2_500));
    const kubectlKiB = rssKiB(kubectl.pid!);
    await closed;

    const perCommandMiB = (running - before) / commands / 1024;
    const coldMiB = (cold[1] - cold[0]) / commands / 1024;
    const perSubscriptionKiB = (subscribed - base) / idle;
    const kubectlMiB = kubectlKiB / 1024;
    row(
      'P4',
      `server RSS per running command (${commands} × sleep 60) and per idle graphql-sse subscription (${idle})`,
      `server RSS ${(before / 1024).toFixed(1)} → ${(running / 1024).toFixed(1)} MiB with the commands = ${perCommandMiB.toFixed(3)} MiB each ` +
        `(the first ${commands} after start: ${(cold[0] / 1024).toFixed(1)} → ${(cold[1] / 1024).toFixed(1)} MiB = ${coldMiB.toFixed(3)} MiB each); ` +
        `${(base / 1024).toFixed(1)} → ${(subscribed / 1024).toFixed(1)} MiB with the subscriptions = ${perSubscriptionKiB.toFixed(1)} KiB each\n` +
        `      vs  one kubectl exec -- sleep 5 process: ${kubectlMiB.toFixed(1)} MiB RSS`,
      `${(perCommandMiB / kubectlMiB).toFixed(4)} × (command) and ${(perSubscriptionKiB / 1024 / kubectlMiB).toFixed(5)} ` +
        `× (subscription) a kubectl exec process`,
      '≤ 0.25 MiB a command, ≤ 48 KiB a subscription',
    );
  } finally {
    for (const unsubscribe of unsubscribers) unsubscribe();
    client.dispose();
    await Promise.all(ids.map((id) => cancel(url, id).catch(() => undefined)));
  }
}

/** Starts `n` × `sleep 60` (their ids pushed to `ids`); the server's settled RSS before and once all are RUNNING. */
async function runningBatch(pid: number, url: string, n: number, ids: string[]): Promise<[number, number]> {
  const before = await settledRss(pid);
  const batch: string[] = [];
  for (let i = 0; i < n; i++) batch.push(await runShell(url, 'sleep 60'));
  ids.push(...batch);
  for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 100))) {
    const statuses = await Promise.all(batch.map((id) => statusOf(url, id)));
    if (statuses.every((s) => s === 'RUNNING')) break;
    if (Date.now() > deadline) throw new Error(`P4: not every command RUNNING within 30 s: ${[...new Set(statuses)].join(', ')}`);
  }
  return [before, await settledRss(pid)];
}

/** Cancels a command; resolves once the answer is in (cancelCommand answers once it is CANCELED). */
async function cancel(url: string, id: string): Promise<void> {
  await gql(url, 'mutation($id: ID!) { cancelCommand(id: $id) { status } }', { id });
}
