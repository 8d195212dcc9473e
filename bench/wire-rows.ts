import { Agent, request } from 'node:http';
import { createClient } from 'graphql-sse';
import { cpuMsOf } from './cpu.js';
import { count, kubectlExec, median, row, runShell, seqBytes, type Wire } from './wire-setup.js';

/**
 * Rows P1, P2, P5 and P6 of issue 14 ("As fast as the wire"), each against its anchor in the
 * same run (see `wire-setup.ts` for what runs where). Subscribers are graphql-sse clients in
 * distinct-connections mode; the REST shim is read with a minimal streaming SSE parser on the
 * fetch body (the `eventsource` package would measure itself on a million events).
 */

const SUBSCRIPTION = 'subscription($id: ID!) { commandEvents(id: $id) { __typename ... on CommandOutput { text } ... on CommandCompleted { status } } }';

/** Runs `command` and follows it over graphql-sse to CommandCompleted; mutation sent → completed. */
async function viaGraphqlSse(url: string, command: string): Promise<{ ms: number; bytes: number; status?: string }> {
  const client = createClient({ url: `${url}/graphql/stream`, retryAttempts: 0 });
  try {
    const t = performance.now();
    const id = await runShell(url, command);
    let bytes = 0;
    let status: string | undefined;
    for await (const result of client.iterate({ query: SUBSCRIPTION, variables: { id } })) {
      const event = result.data?.commandEvents as { __typename: string; text?: string; status?: string };
      if (event.__typename === 'CommandOutput') bytes += event.text!.length;
      else if (event.__typename === 'CommandCompleted') status = event.status;
    }
    return { ms: performance.now() - t, bytes, status };
  } finally {
    client.dispose();
  }
}

/** Runs `command` and reads `/projects/bench/events?stream_id=` to `complete`, counting `output` events. */
async function viaRestShim(url: string, command: string): Promise<{ ms: number; outputs: number; completed: boolean }> {
  const t = performance.now();
  const id = await runShell(url, command);
  const res = await fetch(`${url}/projects/bench/events?stream_id=${encodeURIComponent(id)}`, { headers: { accept: 'text/event-stream' } });
  if (res.status !== 200 || !res.body) throw new Error(`events: ${res.status}`);
  const decoder = new TextDecoder();
  let carry = '';
  let outputs = 0;
  let completed = false;
  const reader = res.body.getReader();
  try {
    while (!completed) {
      const { value, done } = await reader.read();
      if (done) break;
      const text = carry + decoder.decode(value, { stream: true });
      let at = 0;
      for (let nl = text.indexOf('\n', at); nl >= 0; at = nl + 1, nl = text.indexOf('\n', at)) {
        // Only the event lines matter: `event: output` per line, `event: complete` at the end.
        if (text.charCodeAt(at) !== 101 /* e */) continue;
        const name = text.slice(at, nl);
        if (name === 'event: output') outputs++;
        else if (name === 'event: complete') completed = true;
      }
      carry = text.slice(at);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return { ms: performance.now() - t, outputs, completed };
}

/** P1: `runShell "true"` → CommandCompleted vs `kubectl exec -- true`. */
export async function p1(w: Wire): Promise<void> {
  const runs = count('BENCH_P1_RUNS', 20);
  const kubectlRuns = count('BENCH_P1_KUBECTL_RUNS', 10);
  for (let i = 0; i < 3; i++) await viaGraphqlSse(w.server.url, 'true'); // warm-up
  await kubectlExec(w.kube, ['true']);
  const ours: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await viaGraphqlSse(w.server.url, 'true');
    if (r.status !== 'SUCCEEDED') throw new Error(`P1: true ended ${r.status}`);
    ours.push(r.ms);
  }
  const kubectl: number[] = [];
  for (let i = 0; i < kubectlRuns; i++) kubectl.push((await kubectlExec(w.kube, ['true'])).ms);
  const [a, b] = [median(ours), median(kubectl)];
  row(
    'P1',
    'runShell "true": mutation → CommandCompleted on a graphql-sse subscriber',
    `server ${a.toFixed(1)} ms (median of ${runs})  vs  kubectl exec -- true ${b.toFixed(1)} ms (median of ${kubectlRuns})`,
    `${(a / b).toFixed(2)} × kubectl's time`,
    '≤ 0.2 ×',
  );
}

/** P2: `seq 1 N` to a graphql-sse subscriber vs `kubectl exec -- seq 1 N`, bytes/s. */
export async function p2(w: Wire): Promise<void> {
  const lines = count('BENCH_SEQ_LINES', 1_000_000);
  const rounds = count('BENCH_P2_ROUNDS', 3);
  const bytes = seqBytes(lines);
  await viaGraphqlSse(w.server.url, 'seq 1 10000'); // warm-up
  const ours: number[] = [];
  const kubectl: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const r = await viaGraphqlSse(w.server.url, `seq 1 ${lines}`);
    if (r.status !== 'SUCCEEDED' || r.bytes !== bytes) throw new Error(`P2: ended ${r.status} with ${r.bytes} of ${bytes} bytes`);
    ours.push(r.ms);
    const k = await kubectlExec(w.kube, ['seq', '1', String(lines)]);
    if (k.bytes !== bytes) throw new Error(`P2: kubectl read ${k.bytes} of ${bytes} bytes`);
    kubectl.push(k.ms);
  }
  const [a, b] = [median(ours), median(kubectl)];
  const mbps = (ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
  row(
    'P2',
    `seq 1 ${lines} (${(bytes / 1e6).toFixed(1)} MB) to a graphql-sse subscriber`,
    `server ${a.toFixed(0)} ms = ${mbps(a)} (runs ${ours.map((x) => x.toFixed(0)).join(', ')}) ` +
      ` vs  kubectl exec -- seq ${b.toFixed(0)} ms = ${mbps(b)} (runs ${kubectl.map((x) => x.toFixed(0)).join(', ')}); ` +
      `median of ${rounds}`,
    `${(b / a).toFixed(2)} × kubectl's rate`,
    '≥ 1.0 ×',
  );
}

/**
 * `connections` keep-alive loops POSTing `query` for `seconds`; requests/s of 200 answers holding `expect`, and the CPU the
 * server process `pid` used per answer (less moved by the machine's load than the rate).
 */
async function hammer(
  url: string,
  pid: number,
  query: string,
  expect: string,
  connections: number,
  seconds: number,
): Promise<{ rps: number; errors: number; cpuUsPerRequest: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const body = JSON.stringify({ query });
  const { hostname, port } = new URL(url);
  const post = () =>
    new Promise<boolean>((resolve) => {
      const req = request(
        { agent, hostname, port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(res.statusCode === 200 && text.includes(expect)));
        },
      );
      req.on('error', () => resolve(false));
      req.end(body);
    });
  let ok = 0;
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const t = performance.now();
  const cpu = cpuMsOf(pid);
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        if (await post()) ok++;
        else errors++;
      }
    }),
  );
  const ms = performance.now() - t;
  const cpuUsPerRequest = ((cpuMsOf(pid) - cpu) * 1000) / Math.max(1, ok);
  agent.destroy();
  return { rps: (ok / ms) * 1000, errors, cpuUsPerRequest };
}

/** P5: `{ projects { id status } }` vs the bare Yoga's `{ hello }`, 50 keep-alive connections. */
export async function p5(w: Wire): Promise<void> {
  const connections = count('BENCH_P5_CONNECTIONS', 50);
  const seconds = count('BENCH_P5_SECONDS', 10);
  await hammer(w.server.url, w.server.pid, '{ projects { id status } }', '"bench"', connections, 1); // warm-up
  await hammer(w.bare.url, w.bare.pid, '{ hello }', '"world"', connections, 1);
  const ours = await hammer(w.server.url, w.server.pid, '{ projects { id status } }', '"bench"', connections, seconds);
  const bare = await hammer(w.bare.url, w.bare.pid, '{ hello }', '"world"', connections, seconds);
  row(
    'P5',
    `{ projects { id status } } requests/s, ${connections} keep-alive connections (node:http client), ${seconds} s each`,
    `server ${ours.rps.toFixed(0)} req/s (${ours.errors} failed, CPU ${ours.cpuUsPerRequest.toFixed(0)} µs a request)  vs  ` +
      `bare Yoga { hello } ${bare.rps.toFixed(0)} req/s (${bare.errors} failed, CPU ${bare.cpuUsPerRequest.toFixed(0)} µs a request)`,
    `${(ours.rps / bare.rps).toFixed(2)} × the bare Yoga (CPU a request: ${(ours.cpuUsPerRequest / bare.cpuUsPerRequest).toFixed(2)} ×)`,
    '≥ 1.0 ×',
  );
}

/** P6: `seq 1 N` through the REST shim (one `output` event a line) vs the graphql-sse path (P2). */
export async function p6(w: Wire): Promise<void> {
  const lines = count('BENCH_SEQ_LINES', 1_000_000);
  const rounds = count('BENCH_P6_ROUNDS', 3);
  const bytes = seqBytes(lines);
  await viaRestShim(w.server.url, 'seq 1 10000'); // warm-up
  await viaGraphqlSse(w.server.url, 'seq 1 10000');
  const rest: number[] = [];
  const sse: number[] = [];
  const restCpu: number[] = [];
  const sseCpu: number[] = [];
  const restClient: number[] = [];
  const sseClient: number[] = [];
  const clientMs = (since: NodeJS.CpuUsage): number => {
    const { user, system } = process.cpuUsage(since);
    return Math.round((user + system) / 1000);
  };
  for (let i = 0; i < rounds; i++) {
    let cpu = cpuMsOf(w.server.pid);
    let client = process.cpuUsage();
    const r = await viaRestShim(w.server.url, `seq 1 ${lines}`);
    if (!r.completed || r.outputs !== lines) throw new Error(`P6: REST shim gave ${r.outputs} of ${lines} output events, complete: ${r.completed}`);
    rest.push(r.ms);
    restCpu.push(cpuMsOf(w.server.pid) - cpu);
    restClient.push(clientMs(client));
    cpu = cpuMsOf(w.server.pid);
    client = process.cpuUsage();
    const g = await viaGraphqlSse(w.server.url, `seq 1 ${lines}`);
    if (g.status !== 'SUCCEEDED' || g.bytes !== bytes) throw new Error(`P6: graphql-sse ended ${g.status} with ${g.bytes} of ${bytes} bytes`);
    sse.push(g.ms);
    sseCpu.push(cpuMsOf(w.server.pid) - cpu);
    sseClient.push(clientMs(client));
  }
  const [a, b] = [median(rest), median(sse)];
  row(
    'P6',
    `REST shim: seq 1 ${lines} through /projects/{id}/events?stream_id= (${lines} output events)`,
    `REST ${a.toFixed(0)} ms = ${((lines / a) * 1000).toFixed(0)} events/s (runs ${rest.map((x) => x.toFixed(0)).join(', ')}; ` +
      `server CPU ${median(restCpu)} ms, client ${median(restClient)} ms)  vs  ` +
      `graphql-sse ${b.toFixed(0)} ms (runs ${sse.map((x) => x.toFixed(0)).join(', ')}; server CPU ` +
      `${median(sseCpu)} ms, client ${median(sseClient)} ms); median of ${rounds}`,
    `${(b / a).toFixed(2)} × the graphql-sse rate`,
    '≥ 0.8 ×',
  );
}
