import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLAUDE_DIRECTIVES as D,
  CLAUDE_STANDIN_COST_USD,
  CLAUDE_STANDIN_DEFAULT_MODEL,
  CLAUDE_STANDIN_TEXT,
  floodDirective,
  linesDirective,
  recordDirective,
  standinEcho,
} from '../support/claude/index.js';
import { COMMAND_EVENTS, collect, gqlData, sseClient, until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';
import { readSse } from './sse-reader.js';

let t: TestApp;
beforeAll(async () => {
  // Output cap above the 64 MiB line of the long-line test: its result message must be read.
  t = await startTestApp({ env: { RDEV_CLAUDE_IDLE_TIMEOUT_SECONDS: '2', RDEV_MAX_OUTPUT_BYTES: String(128 * 1024 * 1024) } });
});
afterAll(() => t.close());

const CLAUDE_RUN = 'sessionId model result isError numTurns totalCostUsd durationMs';

async function runClaude(input: Record<string, unknown>): Promise<string> {
  const data = await gqlData(t.url, `mutation($input: RunClaudeInput!) { runClaude(input: $input) { id } }`, { input: { projectId: 'alpha', ...input } });
  return data.runClaude.id;
}

async function commandOf(id: string): Promise<any> {
  return (await gqlData(t.url, `query($id: ID!) { command(id: $id) { status exitCode error argv claude { ${CLAUDE_RUN} } } }`, { id })).command;
}

/** Every event of a run through graphql-sse, in a compact shape. */
async function eventsOf(id: string): Promise<any[]> {
  const client = sseClient(t.url, false);
  try {
    return await collect(client, COMMAND_EVENTS, { id });
  } finally {
    client.dispose();
  }
}

const brief = (e: any) =>
  e.__typename === 'ClaudeMessage'
    ? ['claude', e.type, e.subtype, e.text, e.toolName]
    : e.__typename === 'CommandOutput'
      ? ['output', e.stream, e.text]
      : ['completed', e.status];

describe('runClaude: a typed stream', () => {
  it('turns stream-json into ClaudeMessage events and fills ClaudeRun from init and result', async () => {
    const id = await runClaude({ prompt: 'hello' });
    const events = await eventsOf(id);
    expect(events.map(brief)).toEqual([
      ['claude', 'system', 'init', '', null],
      ['claude', 'assistant', null, standinEcho('hello'), null],
      ['claude', 'result', 'success', '', null],
      ['completed', 'SUCCEEDED'],
    ]);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    const init = events[0].message;
    expect(init).toMatchObject({ type: 'system', subtype: 'init', session_id: expect.any(String) });
    expect(await commandOf(id)).toMatchObject({
      status: 'SUCCEEDED',
      exitCode: 0,
      error: null,
      claude: {
        sessionId: init.session_id,
        model: CLAUDE_STANDIN_DEFAULT_MODEL,
        result: standinEcho('hello'),
        isError: false,
        numTurns: 1,
        totalCostUsd: CLAUDE_STANDIN_COST_USD,
        durationMs: expect.any(Number),
      },
    });
  });

  it('names the tool of a tool_use message and keeps the tool result as a user message', async () => {
    const events = await eventsOf(await runClaude({ prompt: `list files ${D.tool}`, allowedTools: ['Bash(ls:*)'] }));
    expect(events.map(brief)).toEqual([
      ['claude', 'system', 'init', '', null],
      ['claude', 'assistant', null, standinEcho(`list files ${D.tool}`), null],
      ['claude', 'assistant', null, '', 'Bash'],
      ['claude', 'user', null, '', null],
      ['claude', 'assistant', null, CLAUDE_STANDIN_TEXT.toolFinal, null],
      ['claude', 'result', 'success', '', null],
      ['completed', 'SUCCEEDED'],
    ]);
    expect(events[3].message.message.content[0]).toMatchObject({ type: 'tool_result', content: CLAUDE_STANDIN_TEXT.toolOutput });
  });

  it('keeps lines that are not JSON, and stderr, as CommandOutput in their place', async () => {
    const events = await eventsOf(await runClaude({ prompt: `x ${D.notJson}` }));
    expect(events.map(brief)).toContainEqual(['output', 'STDOUT', `${CLAUDE_STANDIN_TEXT.notJsonLine}\n`]);
    const stderr = await eventsOf(await runClaude({ prompt: `x ${D.stderr}` }));
    expect(stderr.map(brief)).toContainEqual(['output', 'STDERR', `${CLAUDE_STANDIN_TEXT.stderrLine}\n`]);
  });

  it('reassembles a JSON line written in two pieces', async () => {
    const events = await eventsOf(await runClaude({ prompt: `split ${D.split}` }));
    expect(events.filter((e) => e.__typename === 'CommandOutput')).toEqual([]);
    expect(events.map(brief)).toContainEqual(['claude', 'assistant', null, standinEcho(`split ${D.split}`), null]);
  });

  it('has the session id while the run is still going', async () => {
    const id = await runClaude({ prompt: `wait ${D.slow}${'[lines:20]'}` });
    await until(async () => (await commandOf(id)).claude.sessionId !== null, 10_000, 'the init message');
    const running = await commandOf(id);
    expect(running.status).toBe('RUNNING');
    expect(running.claude).toMatchObject({ sessionId: expect.any(String), model: CLAUDE_STANDIN_DEFAULT_MODEL, result: null, numTurns: null });
    await waitFinal(t.url, id);
  });

  it('continues a conversation given the sessionId of an earlier run', async () => {
    const first = await runClaude({ prompt: 'remember 42' });
    await waitFinal(t.url, first);
    const sessionId = (await commandOf(first)).claude.sessionId;
    const second = await runClaude({ prompt: 'what number?', sessionId });
    await waitFinal(t.url, second);
    const c = await commandOf(second);
    expect(c.argv).toEqual(expect.arrayContaining(['--resume', sessionId]));
    expect(c.claude.sessionId).toBe(sessionId);
    expect(c.claude.result).toContain('previous prompt: remember 42');
  });

  it('lists a project’s recent sessions, newest first, with the last result’s first line', async () => {
    const id = await runClaude({ prompt: 'the newest' });
    await waitFinal(t.url, id);
    const data = await gqlData(t.url, `{ project(id: "alpha") { claudeSessions(first: 2) { sessionId lastResult runs lastCommand { id } } } }`);
    const sessions = data.project.claudeSessions;
    expect(sessions).toHaveLength(2);
    expect(sessions[0]).toEqual({ sessionId: (await commandOf(id)).claude.sessionId, lastResult: standinEcho('the newest'), runs: 1, lastCommand: { id } });
  });
});

describe('runClaude: the watchdog and failed runs', () => {
  it('stops a run that writes nothing for the idle timeout as TIMED_OUT, saying so', async () => {
    const id = await runClaude({ prompt: `stuck ${D.hang}` });
    const done = await waitFinal(t.url, id);
    expect(done).toMatchObject({ status: 'TIMED_OUT', exitCode: null, error: 'no output for 2s: the process stopped writing and was stopped' });
  });

  it('an exit 0 without a result message is FAILED with an error that says so', async () => {
    const done = await waitFinal(t.url, await runClaude({ prompt: `bye ${D.noResult}` }));
    expect(done).toMatchObject({ status: 'FAILED', exitCode: 0, error: 'claude exited with code 0 without a result message' });
  });

  it('exceeding max turns is FAILED with the result subtype', async () => {
    const id = await runClaude({ prompt: `loop ${D.maxTurns}`, maxTurns: 1 });
    const done = await waitFinal(t.url, id);
    expect(done).toMatchObject({ status: 'FAILED', exitCode: 1, error: 'claude reported an error (error_max_turns)' });
    expect((await commandOf(id)).claude).toMatchObject({ isError: true, numTurns: 2 });
  });

  it('an API error reported with subtype "success" and is_error is FAILED', async () => {
    const done = await waitFinal(t.url, await runClaude({ prompt: `x ${D.apiError}` }));
    expect(done).toMatchObject({ status: 'FAILED', exitCode: 1, error: `claude reported an error (success): ${CLAUDE_STANDIN_TEXT.apiError}` });
  });
});

/** The raw bytes the CLI wrote, rebuilt from the events: the stand-in writes each message as `JSON.stringify(message)` and a newline. */
const rawOf = (events: any[]): string =>
  events
    .filter((e) => e.__typename !== 'CommandCompleted')
    .map((e) => (e.__typename === 'ClaudeMessage' ? `${JSON.stringify(e.message)}\n` : e.text))
    .join('');

/** A command's audit entry once its end is in (auth is off here: the caller is the anonymous admin). */
async function auditOf(url: string, id: string): Promise<{ outputBytes: number; outputSha256: string }> {
  let entry: any;
  await until(
    async () => {
      const { auditLog } = await gqlData(url, `{ auditLog(first: 100) { commandId outputBytes outputSha256 } }`);
      entry = auditLog.find((e: any) => e.commandId === id && e.outputSha256 !== null);
      return entry !== undefined;
    },
    10_000,
    'the audit entry of the end',
  );
  return { outputBytes: entry.outputBytes, outputSha256: entry.outputSha256 };
}

describe('runClaude: the audit and the output limit', () => {
  it('audits the size and sha256 of the bytes the CLI wrote, messages included', async () => {
    const id = await runClaude({ prompt: `audit ${D.tool} ${D.notJson}` });
    const raw = rawOf(await eventsOf(id));
    expect(raw).toContain(CLAUDE_STANDIN_TEXT.notJsonLine);
    expect(await auditOf(t.url, id)).toEqual({ outputBytes: Buffer.byteLength(raw), outputSha256: createHash('sha256').update(raw).digest('hex') });
  });

  describe('with RDEV_MAX_OUTPUT_BYTES=1024', () => {
    let small: TestApp;
    let records: string;
    beforeAll(async () => {
      small = await startTestApp({ env: { RDEV_MAX_OUTPUT_BYTES: '1024' } });
      records = mkdtempSync(path.join(tmpdir(), 'rdev-claude-records-'));
    });
    afterAll(async () => {
      await small?.close();
      if (records) rmSync(records, { recursive: true, force: true });
    });

    /** Runs a Claude run whose output goes far past the limit; its stdout as the CLI wrote it, and what the server made of it. */
    async function cappedRun(n: number): Promise<{ id: string; written: Buffer; done: Record<string, any>; events: any[]; claude: any }> {
      const file = path.join(records, `run-${n}`);
      const { runClaude: run } = await gqlData(small.url, `mutation($input: RunClaudeInput!) { runClaude(input: $input) { id } }`, {
        input: { projectId: n % 2 === 0 ? 'alpha' : 'beta', prompt: `many ${linesDirective(200)} ${recordDirective(file)}` },
      });
      const done = await waitFinal(small.url, run.id, 120_000);
      const client = sseClient(small.url, false);
      const events = await collect(client, COMMAND_EVENTS, { id: run.id }).finally(() => client.dispose());
      const { command } = await gqlData(small.url, `query($id: ID!) { command(id: $id) { claude { ${CLAUDE_RUN} } } }`, { id: run.id });
      return { id: run.id, written: readFileSync(file), done, events, claude: command.claude };
    }

    it('keeps at most 1 KiB of messages and one marker, takes the status from the result past the limit, and audits every byte', async () => {
      // Many runs: a result line freed from the spool before it was read failed about half of them ("without a result message").
      const runs = await Promise.all(Array.from({ length: 20 }, (_, n) => cappedRun(n)));
      for (const { id, written, done, events, claude } of runs) {
        const lines = written.toString('utf8').trimEnd().split('\n');
        const result = JSON.parse(lines.at(-1)!);
        expect(lines).toHaveLength(202);
        expect({ status: done.status, exitCode: done.exitCode, error: done.error, result: claude.result, numTurns: claude.numTurns }).toEqual({
          status: 'SUCCEEDED',
          exitCode: 0,
          error: null,
          result: result.result,
          numTurns: result.num_turns,
        });
        const markers = events.filter((e) => e.__typename === 'CommandOutput' && e.text.startsWith('[rdev] output limit'));
        const kept = rawOf(events.filter((e) => !markers.includes(e)));
        expect(Buffer.byteLength(kept)).toBeLessThanOrEqual(1024);
        // What was kept is what the CLI wrote first.
        expect(written.subarray(0, Buffer.byteLength(kept)).toString('utf8')).toBe(kept);
        expect(events.filter((e) => e.__typename === 'ClaudeMessage').length).toBeGreaterThan(0);
        expect(markers.map((m) => [m.stream, m.text])).toEqual([
          ['STDERR', `[rdev] output limit of 1024 bytes reached: ${written.length - Buffer.byteLength(kept)} bytes of output were dropped\n`],
        ]);
        // Every byte counted; the digest covers the bytes below the limit (past it the spool may have freed them).
        expect(await auditOf(small.url, id)).toEqual({
          outputBytes: written.length,
          outputSha256: createHash('sha256').update(written.subarray(0, 1024)).digest('hex'),
        });
      }
    });
  });
});

describe('runClaude: a long line', () => {
  it('passes a 64 MiB line without a newline on as output and parses the messages after it', async () => {
    const id = await runClaude({ prompt: `flood ${floodDirective(64 * 1024 * 1024)}` });
    // /health, one request after another, until the run ends: the slowest answer says how long the
    // event loop was held. Printed, not asserted: on a busy 2-core machine the figure is not
    // reliable enough for a bound (test/unit/claude-stream.test.ts checks the splitter's work).
    const latencies: number[] = [];
    let ended = false;
    const finished = waitFinal(t.url, id, 300_000).finally(() => (ended = true));
    while (!ended) {
      const started = performance.now();
      await (await fetch(`${t.url}/health`)).arrayBuffer();
      latencies.push(performance.now() - started);
      await new Promise((r) => setTimeout(r, 10));
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `/health during a 64 MiB line (${t.backend}): ${latencies.length} answers, worst ${latencies.at(-1)!.toFixed(0)} ` +
        `ms, median ${latencies[latencies.length >> 1]!.toFixed(0)} ms`,
    );
    expect(await finished).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });
    const { command } = await gqlData(t.url, `query($id: ID!) { command(id: $id) { output { text } } }`, { id });
    expect(command.output.map((o: any) => o.text).join('')).toBe(`${'x'.repeat(64 * 1024 * 1024)}\n`);
    // The messages after the line were parsed: the result is there.
    expect((await commandOf(id)).claude).toMatchObject({ result: standinEcho(`flood ${floodDirective(64 * 1024 * 1024)}`), isError: false, numTurns: 1 });
  });
});

describe('runClaude through Yoga SSE and the REST shim', () => {
  it('streams ClaudeMessage events over /graphql with fetch', async () => {
    const id = await runClaude({ prompt: 'hi' });
    const types: string[] = [];
    for await (const f of readSse(`${t.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: COMMAND_EVENTS, variables: { id } }),
    })) {
      if (f.event === 'next') types.push(JSON.parse(f.data).data.commandEvents.__typename);
      if (f.event === 'complete') break;
    }
    expect(types).toEqual(['ClaudeMessage', 'ClaudeMessage', 'ClaudeMessage', 'CommandCompleted']);
  });

  it('POST /claude takes the same options, and the events stream renders readable lines', async () => {
    const res = await fetch(`${t.url}/projects/alpha/claude`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: `look ${D.tool}`, max_turns: 5, allowed_tools: ['Bash'] }),
    });
    const { data } = (await res.json()) as any;
    const lines = await new Promise<string[]>((resolve) => {
      const es = new EventSource(`${t.url}${data.stream_url}`);
      const got: string[] = [];
      es.addEventListener('output', (e) => got.push(`${JSON.parse(e.data).stream}: ${JSON.parse(e.data).line}`));
      es.addEventListener('complete', () => {
        es.close();
        resolve(got);
      });
    });
    expect(lines).toEqual([
      expect.stringMatching(/^stdout: \[claude\] session [0-9a-f-]+ · claude-sonnet/),
      `stdout: ${standinEcho(`look ${D.tool}`)}`,
      'stdout: [tool] Bash {"command":"ls"}',
      'stdout: [tool result] README.md',
      `stdout: ${CLAUDE_STANDIN_TEXT.toolFinal}`,
      `stdout: [result] success · 2 turns · $${CLAUDE_STANDIN_COST_USD.toFixed(4)}`,
    ]);
  });
});
