// The real `rdev` binary (bin/rdev.mjs) against a real server process (dist/server.js) with the
// default local backend and its demo project, and the stand-in `claude` on the commands' PATH.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { EXIT } from '../../src/cli/exit-codes.js';
import { loadConfig } from '../../src/config.js';
import { TOKENS, TOKENS_YAML } from '../api/auth-fixtures.js';
import { claudeStandinEnv } from '../support/claude/index.js';
import { gqlData, until } from '../api/client.js';

const root = path.resolve(import.meta.dirname, '../..');
let dir: string;
let port: number;
let url: string;
let server: { child: ChildProcess; output: () => string; exited: Promise<number | null> } | undefined;
const children: ChildProcess[] = [];

/** A port that was free a moment ago (the server must come back on the same one). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port: p } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return p;
}

async function startServer(): Promise<void> {
  // RDEV_COMMAND_ENV: the stand-in's state directory reaches Claude runs (commands get only PATH, HOME, LANG, TERM by default).
  const env = {
    ...claudeStandinEnv(path.join(dir, 'claude-state')),
    PORT: String(port),
    RDEV_DATA_DIR: path.join(dir, 'data'),
    RDEV_LOG_LEVEL: 'info',
    RDEV_COMMAND_ENV: 'CLAUDE_STANDIN_STATE',
  };
  const child = spawn(process.execPath, ['dist/server.js'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (b) => (output += b));
  child.stderr!.on('data', (b) => (output += b));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  server = { child, output: () => output, exited };
  await until(() => /"msg":"listening"/.test(output) || child.exitCode !== null, 30_000, 'the server to listen');
  if (child.exitCode !== null) throw new Error(`the server did not start: ${output}`);
}

async function stopServer(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!server) return;
  server.child.kill(signal);
  await server.exited;
  server = undefined;
}

/** Starts `rdev args…`; collects its stdout and stderr apart. */
function rdev(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(root, 'bin/rdev.mjs'), ...args], {
    cwd: dir,
    env: { ...process.env, RDEV_URL: url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => (stdout += b));
  child.stderr!.on('data', (b) => (stderr += b));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs `rdev args…` to its end. */
async function rdevDone(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = rdev(args, env);
  const code = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

const pidsWith = (marker: string): string[] =>
  execFileSync('ps', ['-eo', 'pid,args'])
    .toString()
    .split('\n')
    .filter((l) => l.includes(marker) && !l.includes('ps -eo'));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'rdev-cli-'));
  // The build the binary and the server run (bin/rdev.mjs would make it too, but not twice at once).
  spawnSync(process.execPath, ['scripts/build-dev.mjs', '--quiet'], { cwd: root, stdio: 'inherit' });
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  await startServer();
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

describe('rdev', () => {
  it('passes the output through, stderr apart, and exits with the remote exit code', async () => {
    const r = await rdevDone(['sh', 'demo', '--', 'echo out; echo err >&2; exit 3']);
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it("runs the demo's npm test and git, and exits 0", async () => {
    const test = await rdevDone(['sh', 'demo', '--', 'npm', 'test']);
    expect(test.code).toBe(0);
    expect(test.stdout).toMatch(/# pass 3/);
    const git = await rdevDone(['git', 'demo', 'log', '--oneline']);
    expect(git).toEqual({ code: 0, stdout: expect.stringMatching(/^[0-9a-f]{7,} Initial commit: slugify and wordCount, with tests\n$/), stderr: '' });
  });

  it('lists projects and commands; --json prints valid JSON lines', async () => {
    const projects = await rdevDone(['projects']);
    expect(projects.stdout).toMatch(/^PROJECT +STATUS +WORKSPACE\ndemo +READY +\S+\n$/);
    const ps = await rdevDone(['ps', 'demo', '--json', '-n', '3']);
    const lines = ps.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    for (const c of lines) expect(c).toMatchObject({ id: expect.stringMatching(/^cmd-demo-/), project: { id: 'demo' }, status: expect.any(String) });

    const run = await rdevDone(['sh', '--json', 'demo', '--', 'echo a; echo b >&2; exit 4']);
    expect(run.code).toBe(4);
    const events = run.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events[0]).toEqual({ command: expect.objectContaining({ kind: 'SHELL', argv: ['sh', '-c', 'echo a; echo b >&2; exit 4'] }) });
    expect(events.at(-1)).toMatchObject({ __typename: 'CommandCompleted', status: 'FAILED', exitCode: 4 });
    expect(
      events
        .filter((e) => e.__typename === 'CommandOutput')
        .map((e) => [e.stream, e.text])
        .sort(),
    ).toEqual([
      ['STDERR', 'b\n'],
      ['STDOUT', 'a\n'],
    ]);
  });

  it('--detach prints the id; logs --follow follows it to its end, logs --after skips what was seen', async () => {
    const started = await rdevDone(['sh', '--detach', 'demo', '--', 'echo one; sleep 0.5; echo two; exit 5']);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    expect(id).toMatch(/^cmd-demo-/);
    expect(await rdevDone(['logs', '--follow', id])).toEqual({ code: 5, stdout: 'one\ntwo\n', stderr: '' });
    const events = (await rdevDone(['logs', '--json', id])).stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(await rdevDone(['logs', '--after', String(events[0].seq), id])).toEqual({ code: 5, stdout: 'two\n', stderr: '' });
  });

  it('renders a Claude run as readable text', async () => {
    const r = await rdevDone(['claude', 'demo', 'What is in this project? [tool]']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\[claude\] session \S+ · \S+/);
    expect(lines).toContain('You said: What is in this project? [tool]');
    expect(lines).toContain('[tool] Bash {"command":"ls"}');
    expect(lines.at(-1)).toMatch(/^\[result\] success · 2 turns · \$0\.0123$/);
  });

  it('answers a refusal with one line and its own exit code', async () => {
    expect(await rdevDone(['sh', 'nope', '--', 'true'])).toEqual({ code: EXIT.REFUSED, stdout: '', stderr: 'rdev: NOT_FOUND: project "nope" not found\n' });
    expect((await rdevDone(['logs', 'cmd-nope'])).code).toBe(EXIT.REFUSED);
    expect((await rdevDone(['sh'])).code).toBe(EXIT.USAGE);
  });

  it('Ctrl-C cancels the remote command: its process is gone, and rdev exits 130', async () => {
    const marker = 'sleep 301.75';
    const r = rdev(['sh', 'demo', '--', `echo started; ${marker}`]);
    await until(() => r.stdout().includes('started'), 20_000, 'the command to start');
    expect(pidsWith(marker)).not.toEqual([]);
    r.child.kill('SIGINT');
    expect(await r.exited).toBe(EXIT.CANCELED);
    expect(r.stderr()).toMatch(/^rdev: canceling cmd-demo-\S+… \(Ctrl-C again to leave it running\)\n$/);
    // Gone (the supervisor, whose argv names the command too, leaves a moment after the exit record).
    await until(() => pidsWith(marker).length === 0, 5_000, 'the remote process to be gone');
    const id = /canceling (\S+)…/.exec(r.stderr())![1]!;
    expect((await gqlData(url, 'query($id: ID!) { command(id: $id) { status } }', { id })).command.status).toBe('CANCELED');
    expect((await rdevDone(['cancel', id])).stdout).toBe(`${id} CANCELED\n`);
  });

  it('survives a server restart mid-stream: every line once, in order, then the exit code', async () => {
    const r = rdev(['sh', 'demo', '--', 'for i in $(seq 1 40); do echo line $i; sleep 0.1; done; exit 7']);
    await until(() => r.stdout().includes('line 3\n'), 20_000, 'the first lines');
    await stopServer('SIGTERM'); // detaches: the command runs on
    await startServer(); // adopts it, on the same port
    expect(await r.exited).toBe(7);
    expect(r.stdout()).toBe(Array.from({ length: 40 }, (_, i) => `line ${i + 1}\n`).join(''));
    expect(r.stderr()).toMatch(/^rdev: lost the event stream \(.*\); reconnecting…\nrdev: reconnected\n$/);
  });

  it('exits 69, never 0, when the server stays away', async () => {
    const r = rdev(['sh', 'demo', '--', 'echo started; sleep 2'], { RDEV_RECONNECT_SECONDS: '1' });
    await until(() => r.stdout().includes('started'), 20_000, 'the command to start');
    await stopServer('SIGKILL');
    expect(await r.exited).toBe(EXIT.CONNECTION_LOST);
    expect(r.stderr()).toMatch(/rdev: lost the stream of cmd-demo-\S+ and could not regain it/);
    expect((await rdevDone(['projects'])).code).toBe(EXIT.CONNECTION_LOST);
    await startServer(); // for afterAll's clean stop
  });
});

describe('rdev with RDEV_TOKEN', () => {
  it('sends the token on requests and on the event stream; without one, or with too small a role, it is refused', async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'rdev-cli-tokens-'));
    writeFileSync(path.join(data, 'tokens.yaml'), TOKENS_YAML);
    const app = await createApp(
      loadConfig({
        PORT: '0',
        RDEV_DATA_DIR: path.join(data, 'state'),
        RDEV_TOKENS_FILE: path.join(data, 'tokens.yaml'),
        RDEV_LOG_LEVEL: 'silent',
        RDEV_ON_SHUTDOWN: 'stop',
      }),
    );
    const http = createHttpServer((req, res) => app.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const guarded = { RDEV_URL: `http://127.0.0.1:${(http.address() as { port: number }).port}` };
    try {
      expect(await rdevDone(['sh', 'demo', '--', 'echo hi'], { ...guarded, RDEV_TOKEN: TOKENS.operator })).toEqual({ code: 0, stdout: 'hi\n', stderr: '' });
      const anonymous = await rdevDone(['sh', 'demo', '--', 'echo hi'], guarded);
      expect(anonymous.code).toBe(EXIT.REFUSED);
      expect(anonymous.stderr).toMatch(/^rdev: .*(UNAUTHENTICATED|401)/);
      const viewer = await rdevDone(['sh', 'demo', '--', 'echo hi'], { ...guarded, RDEV_TOKEN: TOKENS.viewer });
      expect(viewer).toMatchObject({ code: EXIT.REFUSED, stderr: expect.stringMatching(/^rdev: FORBIDDEN: /) });
    } finally {
      http.close();
      await app.close();
      http.closeAllConnections();
      rmSync(data, { recursive: true, force: true });
    }
  });
});
