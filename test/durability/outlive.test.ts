// Commands outlive the server, on both backends, through the real server process: a counter
// (a line every 50 ms for 6 s) and a Claude stand-in run (40 messages, 100 ms apart) are running
// when the server is SIGKILLed (then SIGTERMed, in the second test) and started again on the same
// data directory and port. Both end SUCCEEDED with exit 0 and every byte once (sha256 of the
// stdout against the expected text); a graphql-sse subscriber that resumes with `after` and a
// REST EventSource that reconnects by itself with Last-Event-ID see no gap and no repeat, and end.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlData, runShell, untilProjectReady, waitFinal } from '../api/client.js';
import { CLAUDE_DIRECTIVES, claudeStandinEnv, linesDirective } from '../support/claude/index.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-api/index.js';
import { resumingSubscriber, type Event } from './resuming-subscriber.js';
import { pollUntil, startServer, type ServerProcess } from './server-process.js';

const LINES = 120;
const COUNTER = `i=0; while [ $i -lt ${LINES} ]; do i=$((i+1)); echo "line $i"; sleep 0.05; done`;
const COUNTER_TEXT = Array.from({ length: LINES }, (_, i) => `line ${i + 1}\n`).join('');
const MESSAGES = 40;
const PROMPT = `count ${linesDirective(MESSAGES)} ${CLAUDE_DIRECTIVES.slow}`;
const RUN_CLAUDE = `mutation($input: RunClaudeInput!) { runClaude(input: $input) { id } }`;
const OUTPUT = `query($id: ID!) { command(id: $id) { output(first: 1000) { stream text } } }`;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A REST EventSource on one command: it reconnects by itself (with Last-Event-ID) until `complete`. */
function restSubscriber(
  url: string,
  projectId: string,
  id: string,
): { frames: Array<{ id: string; event: string; data: any }>; done: Promise<void>; close(): void } {
  const frames: Array<{ id: string; event: string; data: any }> = [];
  const source = new EventSource(`${url}/projects/${projectId}/events?stream_id=${id}`);
  const done = new Promise<void>((resolve) => {
    const take = (event: string) => (e: MessageEvent) => {
      frames.push({ id: e.lastEventId, event, data: JSON.parse(e.data as string) });
      if (event === 'complete') {
        source.close();
        resolve();
      }
    };
    source.addEventListener('output', take('output'));
    source.addEventListener('complete', take('complete'));
  });
  return { frames, done, close: () => source.close() };
}

interface Setup {
  env: Record<string, string>;
  close(): Promise<void>;
}

async function backendSetup(backend: 'local' | 'kube', root: string): Promise<Setup> {
  const standin = claudeStandinEnv(path.join(root, 'claude-state'), {});
  const claudeEnv = { PATH: `${standin.PATH}${path.delimiter}${process.env.PATH}`, CLAUDE_STANDIN_STATE: standin.CLAUDE_STANDIN_STATE! };
  if (backend === 'local')
    return { env: { ...claudeEnv, RDEV_COMMAND_ENV: 'CLAUDE_STANDIN_STATE', RDEV_DATA_DIR: path.join(root, 'data') }, close: async () => {} };
  const kube: KubeApiServer = await startKubeApiServer();
  const pod = kube.addPod({ name: 'claudebox-demo-0', namespace: 'rdev', labels: { 'rdev.io/project': 'demo' }, env: claudeEnv });
  mkdirSync(pod.dir, { recursive: true });
  return {
    env: {
      RDEV_DATA_DIR: path.join(root, 'data'),
      RDEV_BACKEND: 'kube',
      KUBECONFIG: kube.kubeconfigPath,
      RDEV_WORKSPACE: kube.workspaceMounted ? '/workspace' : pod.dir,
      RDEV_SPOOL_DIR: path.join(root, 'spool'),
    },
    close: () => kube.close(),
  };
}

describe.each(['local', 'kube'] as const)('commands outlive the server (%s backend)', (backend) => {
  let root: string;
  let setup: Setup;
  let server: ServerProcess | undefined;
  let port: string;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), `rdev-outlive-${backend}-`));
    setup = await backendSetup(backend, root);
    server = await startServer({ env: setup.env });
    port = new URL(server.url).port;
    await untilProjectReady(server.url);
  });

  afterAll(async () => {
    await server?.kill();
    await setup?.close();
    rmSync(root, { recursive: true, force: true });
  });

  for (const how of ['SIGKILL', 'SIGTERM'] as const) {
    it(
      `${how} mid-run, then a start on the same data directory: both commands end SUCCEEDED with ` +
        `every byte once; resuming subscribers see no gap, no repeat, and their end`,
      async () => {
        const url = (): string => server!.url;
        const counter = await runShell(url(), 'demo', COUNTER);
        const claude = (await gqlData<{ runClaude: { id: string } }>(url(), RUN_CLAUDE, { input: { projectId: 'demo', prompt: PROMPT } })).runClaude.id;
        const gqlCounter = resumingSubscriber(url, counter);
        const gqlClaude = resumingSubscriber(url, claude);
        const rest = restSubscriber(url(), 'demo', counter);
        try {
          await pollUntil(
            'some output before the stop',
            () => gqlCounter.events.length,
            (n) => n >= 3,
            30_000,
          );
          const old = server!;
          if (how === 'SIGKILL') await old.kill();
          else {
            const stoppedAt = performance.now();
            old.child.kill('SIGTERM');
            const code = await old.exited;
            const ms = performance.now() - stoppedAt;
            expect({ code, withinFiveSeconds: ms < 5000 }).toEqual({ code: 0, withinFiveSeconds: true });
          }
          server = await startServer({ env: { ...setup.env, PORT: port } });

          const final = await waitFinal(url(), counter, 60_000);
          expect({ status: final.status, exitCode: final.exitCode, error: final.error }).toEqual({ status: 'SUCCEEDED', exitCode: 0, error: null });
          const claudeFinal = await waitFinal(url(), claude, 60_000);
          expect({ status: claudeFinal.status, exitCode: claudeFinal.exitCode, error: claudeFinal.error }).toEqual({
            status: 'SUCCEEDED',
            exitCode: 0,
            error: null,
          });

          const stored = (await gqlData<{ command: { output: Event[] } }>(url(), OUTPUT, { id: counter })).command.output;
          const stdout = stored
            .filter((e) => e.stream === 'STDOUT')
            .map((e) => e.text)
            .join('');
          expect(sha256(stdout)).toBe(sha256(COUNTER_TEXT));

          await gqlCounter.done;
          const seqs = gqlCounter.events.map((e) => e.seq);
          expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
          expect(
            sha256(
              gqlCounter.events
                .filter((e) => e.__typename === 'CommandOutput')
                .map((e) => e.text)
                .join(''),
            ),
          ).toBe(sha256(COUNTER_TEXT));
          expect(gqlCounter.events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'SUCCEEDED', exitCode: 0 });

          await gqlClaude.done;
          const claudeSeqs = gqlClaude.events.map((e) => e.seq);
          expect(claudeSeqs).toEqual(Array.from({ length: claudeSeqs.length }, (_, i) => i + 1));
          const said = gqlClaude.events.filter((e) => e.__typename === 'ClaudeMessage' && e.type === 'assistant').map((e) => e.text);
          expect(said).toEqual(Array.from({ length: MESSAGES }, (_, i) => `You said: ${PROMPT} (${i + 1}/${MESSAGES})`));
          expect(gqlClaude.events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'SUCCEEDED', exitCode: 0 });

          await rest.done;
          // Ids are `<seq>` or `<seq>.<line>` (one REST event per line of a chunk): strictly increasing.
          const ids = rest.frames.map((f) => f.id.split('.').map(Number) as [number, number?]);
          const increasing = ids.every((id, i) => i === 0 || id[0] > ids[i - 1]![0] || (id[0] === ids[i - 1]![0] && (id[1] ?? 0) > (ids[i - 1]![1] ?? 0)));
          expect(increasing ? 'strictly increasing' : rest.frames.map((f) => f.id).join(' ')).toBe('strictly increasing');
          const lines = rest.frames.filter((f) => f.event === 'output').map((f) => `${f.data.line}\n`);
          expect(sha256(lines.join(''))).toBe(sha256(COUNTER_TEXT));
          expect(rest.frames.at(-1)).toMatchObject({ event: 'complete', data: { exit_code: 0, status: 'succeeded' } });
        } finally {
          rest.close();
        }
      },
    );
  }
});
