import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CLAUDE_DIRECTIVES as D,
  CLAUDE_STANDIN_COST_USD,
  CLAUDE_STANDIN_DEFAULT_MODEL,
  CLAUDE_STANDIN_PATH,
  CLAUDE_STANDIN_TEXT as TEXT,
  CLAUDE_STANDIN_VERSION,
  claudeStandinEnv,
  floodDirective,
  linesDirective,
  readStandinSession,
  recordDirective,
  standinEcho,
  standinResumedEcho,
  standinSessionPath,
} from '../support/claude/index.js';

// Real processes: every test spawns the stand-in executable, with its own state dir and cwd.
const STREAM = ['--output-format', 'stream-json', '--verbose'];
const UUID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const TOOLS = [
  'Task',
  'Bash',
  'Glob',
  'Grep',
  'ExitPlanMode',
  'Read',
  'Edit',
  'Write',
  'NotebookEdit',
  'WebFetch',
  'TodoWrite',
  'WebSearch',
  'BashOutput',
  'KillShell',
  'SlashCommand',
];

const temps: string[] = [];
function tempDir(prefix: string): string {
  // realpath: the stand-in reports process.cwd(), which resolves symlinks in the temp path.
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  temps.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout as it arrived, with arrival times (ms since spawn). */
  chunks: { at: number; text: string }[];
}

interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  command?: string;
  /** Called with the stdout so far; once it returns true, the process gets SIGTERM `killAfterMs` later. */
  killWhen?: (stdout: string) => boolean;
  killAfterMs?: number;
}

function runClaude(args: string[], { cwd, env, command = CLAUDE_STANDIN_PATH, killWhen, killAfterMs = 0 }: RunOptions): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: Run = { code: null, signal: null, stdout: '', stderr: '', chunks: [] };
    let killTimer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      run.stdout += text;
      run.chunks.push({ at: Date.now() - started, text });
      if (!killTimer && killWhen?.(run.stdout)) killTimer = setTimeout(() => child.kill('SIGTERM'), killAfterMs);
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (run.stderr += text));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      resolve({ ...run, code, signal });
    });
  });
}

function jsonLines(stdout: string): any[] {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l));
}

function initMessage(cwd: string, over: { model?: string; permissionMode?: string; sessionId?: unknown } = {}) {
  return {
    type: 'system',
    subtype: 'init',
    cwd,
    session_id: over.sessionId ?? UUID,
    tools: TOOLS,
    mcp_servers: [],
    model: over.model ?? CLAUDE_STANDIN_DEFAULT_MODEL,
    permissionMode: over.permissionMode ?? 'default',
    slash_commands: [],
    apiKeySource: 'none',
    claude_code_version: CLAUDE_STANDIN_VERSION,
    output_style: 'default',
    agents: [],
    skills: [],
    plugins: [],
    uuid: UUID,
  };
}

function assistantMessage(content: unknown[], sessionId: unknown, model = CLAUDE_STANDIN_DEFAULT_MODEL) {
  return {
    type: 'assistant',
    message: {
      id: expect.stringMatching(/^msg_/),
      type: 'message',
      role: 'assistant',
      model,
      content,
      stop_reason: null,
      stop_sequence: null,
      usage: {
        input_tokens: expect.any(Number),
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: expect.any(Number),
        service_tier: 'standard',
      },
    },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: UUID,
  };
}

const text = (t: string) => ({ type: 'text', text: t });

function toolResultMessage(toolUseId: unknown, sessionId: unknown) {
  return {
    type: 'user',
    message: {
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: toolUseId, content: TEXT.toolOutput, is_error: false }],
    },
    parent_tool_use_id: null,
    session_id: sessionId,
    uuid: UUID,
  };
}

const resultUsage = {
  input_tokens: expect.any(Number),
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: expect.any(Number),
  server_tool_use: { web_search_requests: 0 },
  service_tier: 'standard',
};

function successResult(result: string, numTurns: number, sessionId: unknown) {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: expect.any(Number),
    duration_api_ms: expect.any(Number),
    num_turns: numTurns,
    result,
    stop_reason: 'end_turn',
    session_id: sessionId,
    total_cost_usd: CLAUDE_STANDIN_COST_USD,
    usage: resultUsage,
    modelUsage: {},
    permission_denials: [],
    terminal_reason: 'completed',
    uuid: UUID,
  };
}

function maxTurnsResult(limit: number, numTurns: number, sessionId: unknown) {
  return {
    type: 'result',
    subtype: 'error_max_turns',
    is_error: true,
    duration_ms: expect.any(Number),
    duration_api_ms: expect.any(Number),
    num_turns: numTurns,
    stop_reason: 'tool_use',
    session_id: sessionId,
    total_cost_usd: CLAUDE_STANDIN_COST_USD,
    usage: resultUsage,
    modelUsage: {},
    permission_denials: [],
    errors: [`Reached maximum number of turns (${limit})`],
    terminal_reason: 'max_turns',
    uuid: UUID,
  };
}

const toolUse = { type: 'tool_use', id: expect.stringMatching(/^toolu_/), name: 'Bash', input: { command: 'ls' } };

/** A fresh state dir and cwd per test, so that tests can run concurrently. */
function setup() {
  const state = tempDir('claude-standin-state-');
  const cwd = tempDir('claude-standin-cwd-');
  const env = claudeStandinEnv(state);
  const claude = (args: string[], options: Partial<RunOptions> = {}) => runClaude(args, { cwd, env, ...options });
  return { state, cwd, env, claude };
}

describe.concurrent('claude stand-in: argv like the real CLI', () => {
  it('refuses stream-json without --verbose with the real message', async () => {
    const { claude } = setup();
    const run = await claude(['-p', 'hi', '--output-format', 'stream-json']);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: `${TEXT.verboseRequired}\n` });
  });

  it('rejects an unknown option', async () => {
    const { claude } = setup();
    const run = await claude(['-p', 'hi', ...STREAM, '--bogus']);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: "error: unknown option '--bogus'\n" });
  });

  it('rejects a permission mode that is not one of the choices', async () => {
    const { claude } = setup();
    const run = await claude(['-p', 'hi', ...STREAM, '--permission-mode', 'yolo']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: option '--permission-mode <mode>' argument 'yolo' is invalid\. Allowed choices are /);
  });

  it('ends --allowedTools at the next option, so later options still apply', async () => {
    const { claude, cwd, state } = setup();
    const args = ['-p', 'hi', '--allowedTools', 'Bash', 'Read', '--model', 'claude-opus-4-1', '--permission-mode', 'acceptEdits', ...STREAM];
    const run = await claude(args);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout)[0]).toEqual(initMessage(cwd, { model: 'claude-opus-4-1', permissionMode: 'acceptEdits' }));
    const sessionId = jsonLines(run.stdout)[0].session_id;
    expect(readStandinSession(state, cwd, sessionId)?.runs).toEqual([{ argv: args, prompt: 'hi', at: expect.any(String) }]);
  });

  it('lets --allowedTools swallow a prompt placed after it, as commander does', async () => {
    const { claude } = setup();
    const run = await claude(['-p', '--allowedTools', 'Bash', 'hi', ...STREAM]);
    expect(run).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'Error: Input must be provided either through stdin or as a prompt argument when using --print\n',
    });
  });

  it('takes a prompt that starts with "-" when it is passed with a leading space', async () => {
    const { claude } = setup();
    const run = await claude(['-p', ' -rf everything', ...STREAM]);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout)[1]).toEqual(assistantMessage([text(standinEcho(' -rf everything'))], expect.any(String)));
  });

  it('reads a prompt that starts with "-" without the space as options', async () => {
    const { claude } = setup();
    const run = await claude(['-p', '-x', ...STREAM]);
    expect(run).toMatchObject({ code: 1, stderr: "error: unknown option '-x'\n" });
  });

  it('is found on PATH through CLAUDE_STANDIN_DIR, runs from any cwd and reports it', async () => {
    const { claude } = setup();
    const run = await claude(['-p', 'root', ...STREAM], { command: 'claude', cwd: '/' });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(jsonLines(run.stdout)[0]).toEqual(initMessage('/'));
  });

  it('runs as CommonJS too, when copied outside this "type": "module" package', async () => {
    const { claude } = setup();
    const copy = join(tempDir('claude-standin-cjs-'), 'claude');
    copyFileSync(CLAUDE_STANDIN_PATH, copy);
    const run = await claude(['-p', 'hi', ...STREAM], { command: copy });
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout).map((m) => m.type)).toEqual(['system', 'assistant', 'result']);
  });

  it('writes only the result object with --output-format json', async () => {
    const { claude } = setup();
    const run = await claude(['-p', 'hi', '--output-format', 'json']);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout)).toEqual([successResult(standinEcho('hi'), 1, UUID)]);
  });
});

describe.concurrent('claude stand-in: stream-json output', () => {
  it('writes init, an assistant echo and a success result, every line JSON', async () => {
    const { claude, cwd } = setup();
    const run = await claude(['-p', 'hello there', ...STREAM]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.endsWith('\n')).toBe(true);
    const lines = jsonLines(run.stdout);
    const sessionId = lines[0].session_id;
    expect(lines).toEqual([
      initMessage(cwd),
      assistantMessage([text(standinEcho('hello there'))], sessionId),
      successResult(standinEcho('hello there'), 1, sessionId),
    ]);
    expect(new Set(lines.map((l) => l.uuid)).size).toBe(3);
  });

  it('[tool]: a tool_use, its tool_result and a final text, in 2 turns', async () => {
    const { claude, cwd } = setup();
    const prompt = `list ${D.tool}`;
    const run = await claude(['-p', prompt, ...STREAM]);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout);
    const sessionId = lines[0].session_id;
    expect(lines).toEqual([
      initMessage(cwd),
      assistantMessage([text(standinEcho(prompt))], sessionId),
      assistantMessage([toolUse], sessionId),
      toolResultMessage(lines[2].message.content[0].id, sessionId),
      assistantMessage([text(TEXT.toolFinal)], sessionId),
      successResult(TEXT.toolFinal, 2, sessionId),
    ]);
    // One API response per turn: the echo and the tool_use share a message id.
    expect(lines[2].message.id).toBe(lines[1].message.id);
    expect(lines[4].message.id).not.toBe(lines[1].message.id);
  });

  it('[no-result]: everything but the result, exit 0', async () => {
    const { claude, cwd } = setup();
    const prompt = `quiet ${D.noResult}`;
    const run = await claude(['-p', prompt, ...STREAM]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = jsonLines(run.stdout);
    expect(lines).toEqual([initMessage(cwd), assistantMessage([text(standinEcho(prompt))], lines[0].session_id)]);
  });

  it('[max-turns]: keeps calling tools until the limit (1 by default), then error_max_turns, exit 1', async () => {
    const { claude, cwd } = setup();
    const prompt = `loop ${D.maxTurns}`;
    const run = await claude(['-p', prompt, ...STREAM]);
    expect(run).toMatchObject({ code: 1, stderr: '' });
    const lines = jsonLines(run.stdout);
    const sessionId = lines[0].session_id;
    expect(lines).toEqual([
      initMessage(cwd),
      assistantMessage([text(standinEcho(prompt))], sessionId),
      assistantMessage([toolUse], sessionId),
      toolResultMessage(lines[2].message.content[0].id, sessionId),
      maxTurnsResult(1, 2, sessionId),
    ]);
  });

  it('[max-turns] with --max-turns 3: three tool turns, num_turns 4', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `loop ${D.maxTurns}`, ...STREAM, '--max-turns', '3']);
    expect(run.code).toBe(1);
    const lines = jsonLines(run.stdout);
    expect(lines.map((l) => l.type)).toEqual(['system', 'assistant', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user', 'result']);
    expect(lines.at(-1)).toEqual(maxTurnsResult(3, 4, lines[0].session_id));
  });

  it('--max-turns smaller than a [tool] run needs: the tool round, no final text, error_max_turns', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `list ${D.tool}`, '--max-turns', '1', ...STREAM]);
    expect(run.code).toBe(1);
    const lines = jsonLines(run.stdout);
    expect(lines.map((l) => l.type)).toEqual(['system', 'assistant', 'assistant', 'user', 'result']);
    expect(lines.at(-1)).toEqual(maxTurnsResult(1, 2, lines[0].session_id));
  });

  it('--max-turns as large as a [tool] run needs: success', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `list ${D.tool}`, '--max-turns', '2', ...STREAM]);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout).at(-1)).toEqual(successResult(TEXT.toolFinal, 2, expect.any(String)));
  });

  it('[api-error]: a synthetic assistant message and a "success" result with is_error, exit 1', async () => {
    const { claude, cwd } = setup();
    const run = await claude(['-p', `boom ${D.apiError}`, ...STREAM]);
    expect(run).toMatchObject({ code: 1, stderr: '' });
    const lines = jsonLines(run.stdout);
    const sessionId = lines[0].session_id;
    expect(lines).toEqual([
      initMessage(cwd),
      { ...assistantMessage([text(TEXT.apiError)], sessionId, '<synthetic>'), error: 'unknown' },
      {
        type: 'result',
        subtype: 'success',
        is_error: true,
        duration_ms: expect.any(Number),
        duration_api_ms: expect.any(Number),
        num_turns: 1,
        result: TEXT.apiError,
        stop_reason: null,
        session_id: sessionId,
        total_cost_usd: 0,
        usage: resultUsage,
        modelUsage: {},
        permission_denials: [],
        terminal_reason: 'api_error',
        uuid: UUID,
      },
    ]);
  });

  it('[lines:N]: N assistant text messages; the result is the last', async () => {
    const { claude, cwd } = setup();
    const prompt = `count ${linesDirective(3)}`;
    const run = await claude(['-p', prompt, ...STREAM]);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout);
    const sessionId = lines[0].session_id;
    const echo = standinEcho(prompt);
    expect(lines).toEqual([
      initMessage(cwd),
      assistantMessage([text(`${echo} (1/3)`)], sessionId),
      assistantMessage([text(`${echo} (2/3)`)], sessionId),
      assistantMessage([text(`${echo} (3/3)`)], sessionId),
      successResult(`${echo} (3/3)`, 1, sessionId),
    ]);
  });

  it('[stderr]: one line on stderr, stdout unchanged', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `noisy ${D.stderr}`, ...STREAM]);
    expect(run).toMatchObject({ code: 0, stderr: `${TEXT.stderrLine}\n` });
    expect(jsonLines(run.stdout).map((l) => l.type)).toEqual(['system', 'assistant', 'result']);
  });

  it('[not-json]: one plain line on stdout after the init message', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `mixed ${D.notJson}`, ...STREAM]);
    expect(run.code).toBe(0);
    const raw = run.stdout.split('\n');
    expect(raw[1]).toBe(TEXT.notJsonLine);
    expect(() => JSON.parse(raw[1]!)).toThrow();
    expect(jsonLines([raw[0], ...raw.slice(2)].join('\n')).map((l) => l.type)).toEqual(['system', 'assistant', 'result']);
  });
});

describe('claude stand-in: [flood:N]', () => {
  it('writes one line of N x bytes after init, then the usual messages', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `big ${floodDirective(3_000_000)}`, ...STREAM]);
    expect(run.code).toBe(0);
    const raw = run.stdout.split('\n');
    expect(raw[1]).toBe('x'.repeat(3_000_000));
    expect(jsonLines([raw[0], ...raw.slice(2)].join('\n')).map((l) => l.type)).toEqual(['system', 'assistant', 'result']);
  });
});

describe('claude stand-in: [record:PATH]', () => {
  it('also appends every byte it writes on stdout to PATH', async () => {
    const { claude } = setup();
    const file = join(tempDir('claude-record-'), 'stdout');
    const run = await claude(['-p', `keep ${recordDirective(file)} ${linesDirective(3)} ${D.notJson} ${D.split}`, ...STREAM]);
    expect(run.code).toBe(0);
    const raw = run.stdout.split('\n');
    expect(raw[1]).toBe(TEXT.notJsonLine);
    expect(jsonLines([raw[0], ...raw.slice(2)].join('\n')).map((l) => l.type)).toEqual(['system', 'assistant', 'assistant', 'assistant', 'result']);
    expect(readFileSync(file, 'utf8')).toBe(run.stdout);
  });
});

describe.concurrent('claude stand-in: sessions', () => {
  it('--resume <id> keeps the session id, counts on and mentions the previous prompt', async () => {
    const { claude, cwd, state } = setup();
    const first = jsonLines((await claude(['-p', `first ${D.tool}`, ...STREAM])).stdout);
    const sessionId = first[0].session_id;
    const run = await claude(['-p', 'second', '--resume', sessionId, ...STREAM]);
    expect(run.code).toBe(0);
    const echo = standinResumedEcho('second', `first ${D.tool}`);
    expect(jsonLines(run.stdout)).toEqual([initMessage(cwd, { sessionId }), assistantMessage([text(echo)], sessionId), successResult(echo, 3, sessionId)]);
    expect(readStandinSession(state, cwd, sessionId)).toMatchObject({ turns: 3, prompts: [`first ${D.tool}`, 'second'] });
  });

  it('--resume with an unknown id fails with the real message', async () => {
    const { claude } = setup();
    const id = '00000000-0000-4000-8000-000000000000';
    const run = await claude(['-p', 'hi', '--resume', id, ...STREAM]);
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: `No conversation found with session ID: ${id}\n` });
  });

  it('--resume only finds sessions of the same cwd, like the real CLI', async () => {
    const { claude } = setup();
    const sessionId = jsonLines((await claude(['-p', 'here', ...STREAM])).stdout)[0].session_id;
    const run = await claude(['-p', 'there', '--resume', sessionId, ...STREAM], { cwd: tempDir('claude-standin-other-') });
    expect(run).toMatchObject({ code: 1, stderr: `No conversation found with session ID: ${sessionId}\n` });
  });

  it('--continue continues the most recent session of this cwd', async () => {
    const { claude, cwd } = setup();
    const older = jsonLines((await claude(['-p', 'older', ...STREAM])).stdout)[0].session_id;
    const latest = jsonLines((await claude(['-p', 'newer', ...STREAM])).stdout)[0].session_id;
    expect(latest).not.toBe(older); // every new run is a new session
    const run = await claude(['-p', 'again', '--continue', ...STREAM]);
    expect(run.code).toBe(0);
    const echo = standinResumedEcho('again', 'newer');
    expect(jsonLines(run.stdout)).toEqual([initMessage(cwd, { sessionId: latest }), assistantMessage([text(echo)], latest), successResult(echo, 2, latest)]);
  });

  it('--continue with no session in this cwd starts a new one', async () => {
    const { claude } = setup();
    const run = await claude(['-c', '-p', 'fresh', ...STREAM]);
    expect(run.code).toBe(0);
    const lines = jsonLines(run.stdout);
    expect(lines.at(-1)).toEqual(successResult(standinEcho('fresh'), 1, lines[0].session_id));
  });

  it.each([
    ['HOME is unset', undefined],
    ['HOME cannot hold a directory', '/dev/null'],
  ])('falls back to <tmpdir>/claude-standin-<uid> when %s', async (_case, home) => {
    const { claude, cwd, env } = setup();
    const { CLAUDE_STANDIN_STATE: _state, HOME: _home, ...rest } = env;
    const run = await claude(['-p', 'homeless', ...STREAM], { env: home === undefined ? rest : { ...rest, HOME: home } });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const sessionId = jsonLines(run.stdout)[0].session_id;
    const fallback = join(tmpdir(), `claude-standin-${process.getuid!()}`);
    try {
      expect(readStandinSession(fallback, cwd, sessionId)).toMatchObject({ sessionId, cwd, turns: 1 });
    } finally {
      rmSync(join(standinSessionPath(fallback, cwd, sessionId), '..'), { recursive: true, force: true });
    }
  });
});

// Timing tests run alone: concurrent spawns could stall the reader and merge or delay chunks.
describe('claude stand-in: timing directives', () => {
  it('[hang]: init and one assistant message, then silence until killed', async () => {
    const { claude, cwd } = setup();
    const prompt = `wait ${D.hang}`;
    const twoLines = (out: string) => out.split('\n').length > 2;
    const run = await claude(['-p', prompt, ...STREAM], { killWhen: twoLines, killAfterMs: 200 });
    expect(run).toMatchObject({ code: null, signal: 'SIGTERM', stderr: '' });
    const lines = jsonLines(run.stdout);
    expect(lines).toEqual([initMessage(cwd), assistantMessage([text(standinEcho(prompt))], lines[0].session_id)]);
  });

  it('[split]: the assistant line arrives in two writes about 50 ms apart', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `halves ${D.split}`, ...STREAM]);
    expect(run.code).toBe(0);
    const partial = run.chunks.findIndex((c) => !c.text.endsWith('\n'));
    expect(partial).toBeGreaterThanOrEqual(0);
    const head = run.chunks[partial]!;
    const tail = run.chunks[partial + 1]!;
    expect(tail.at - head.at).toBeGreaterThanOrEqual(40);
    // The line cut in two: the end of the first read and the start of the next (which may hold more lines).
    const joined = head.text.split('\n').at(-1)! + tail.text.split('\n')[0]!;
    expect(JSON.parse(joined).type).toBe('assistant');
    expect(jsonLines(run.stdout).map((l) => l.type)).toEqual(['system', 'assistant', 'result']);
  });

  it('[slow]: about 100 ms between messages', async () => {
    const { claude } = setup();
    const run = await claude(['-p', `tortoise ${D.slow}`, ...STREAM]);
    expect(run.code).toBe(0);
    expect(run.chunks).toHaveLength(3);
    expect(run.chunks[1]!.at - run.chunks[0]!.at).toBeGreaterThanOrEqual(80);
    expect(run.chunks[2]!.at - run.chunks[1]!.at).toBeGreaterThanOrEqual(80);
  });
});
