import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLAUDE_DIRECTIVES as D, CLAUDE_STANDIN_COST_USD, CLAUDE_STANDIN_DEFAULT_MODEL, CLAUDE_STANDIN_TEXT, standinEcho } from '../support/claude/index.js';
import { COMMAND_EVENTS, collect, gqlData, sseClient, until, waitFinal } from './client.js';
import { startTestApp, type TestApp } from './harness.js';
import { readSse } from './sse-reader.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ env: { RDEV_CLAUDE_IDLE_TIMEOUT_SECONDS: '2' } });
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
      claude: { sessionId: init.session_id, model: CLAUDE_STANDIN_DEFAULT_MODEL, result: standinEcho('hello'), isError: false, numTurns: 1, totalCostUsd: CLAUDE_STANDIN_COST_USD, durationMs: expect.any(Number) },
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

describe('runClaude through Yoga SSE and the REST shim', () => {
  it('streams ClaudeMessage events over /graphql with fetch', async () => {
    const id = await runClaude({ prompt: 'hi' });
    const types: string[] = [];
    for await (const f of readSse(`${t.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: COMMAND_EVENTS, variables: { id } }) })) {
      if (f.event === 'next') types.push(JSON.parse(f.data).data.commandEvents.__typename);
      if (f.event === 'complete') break;
    }
    expect(types).toEqual(['ClaudeMessage', 'ClaudeMessage', 'ClaudeMessage', 'CommandCompleted']);
  });

  it('POST /claude takes the same options, and the events stream renders readable lines', async () => {
    const res = await fetch(`${t.url}/projects/alpha/claude`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: `look ${D.tool}`, max_turns: 5, allowed_tools: ['Bash'] }) });
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
