// Dockerfile.api, built and started without a container engine: the Dockerfile is replayed
// (./dockerfile-replay.ts) over a clean clone of HEAD, so a file the build needs but git
// does not track fails here as it would in `docker build`. Then the image's CMD must
// serve /health and its HEALTHCHECK must pass.
import { execFile, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dockerignore, hostPath, parseDockerfile, replay, startIn } from './dockerfile-replay.js';
import { localBetterSqlitePrebuild } from './local-prebuild.js';
import { repoRoot } from './manifests.js';

const run = promisify(execFile);

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'rdev-replay-'));
  chmodSync(tmp, 0o755); // the image's USER (uid 1000) must reach its stage directory
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Resolves once GET url answers; rejects when the process exits first or after timeoutMs. */
async function waitForHttp(url: string, child: ChildProcess, output: () => string, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    try {
      return await fetch(url, { signal: AbortSignal.timeout(2_000) });
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answered ${url} within ${timeoutMs} ms:\n${output()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode!);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
}

describe('Dockerfile.api', () => {
  let server: ChildProcess | undefined;
  afterEach(() => {
    server?.kill('SIGKILL');
  });

  it('builds from a clean clone, and the image serves /health and passes its HEALTHCHECK', async () => {
    const started = Date.now();
    const context = join(tmp, 'context');
    await run('git', ['clone', '--quiet', repoRoot, context]);
    const dockerfile = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile.api'), 'utf8'));
    expect(dockerfile.stages.map((s) => s.name)).toEqual(['deps', 'build', 'runtime']);

    mkdirSync(join(tmp, 'stages'), { mode: 0o755 });
    let buildLog = '';
    const stages = await replay(dockerfile, {
      context,
      workDir: join(tmp, 'stages'),
      // The host stands in for the base image (node:20-bookworm-slim); npm may use its cache first.
      // better-sqlite3's install script finds its prebuilt addon in a local directory (this
      // machine's build, see local-prebuild.ts) where a Docker build downloads it.
      baseEnv: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        npm_config_prefer_offline: 'true',
        npm_config_update_notifier: 'false',
        ...(await localBetterSqlitePrebuild(repoRoot, join(tmp, 'prebuilds'))),
      },
      log: (text) => (buildLog = (buildLog + text).slice(-20_000)),
    });
    const image = stages.at(-1)!;
    // Unpacked from the prebuild: node-gyp compiling it would have left obj.target/ and more beside it.
    expect(readdirSync(hostPath(stages[0]!, '/app/node_modules/better-sqlite3/build/Release'))).toEqual(['better_sqlite3.node']);
    expect(image.env).toMatchObject({ HOST: '0.0.0.0', PORT: '8080', RDEV_DATA_DIR: '/data', NODE_ENV: 'production' });
    expect(image.cmd).toEqual(['node', 'dist/server.js']);
    expect(image.user).toMatch(/^[1-9]\d*(:\d+)?$/); // numeric and not root
    expect(image.expose).toEqual(['8080']);
    expect(image.healthcheck?.[0]).toBe('node');
    const built = Date.now();

    // HOST stays loopback here (tests only use 127.0.0.1), so no tokens file is needed; the
    // data directory is the image's /data, mapped into its stage.
    const port = await freePort();
    const env = { PORT: String(port), HOST: '127.0.0.1', RDEV_DATA_DIR: hostPath(image, '/data') };
    let output = '';
    server = startIn(image, env);
    server.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    server.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    const health = await waitForHttp(`http://127.0.0.1:${port}/health`, server, () => output);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toMatch(/^application\/json/);
    await health.json();

    const check = startIn(image, env, image.healthcheck);
    expect(await exited(check)).toBe(0);

    server.kill('SIGTERM');
    const code = await Promise.race([exited(server), new Promise((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
    expect(code, output).toBe(0);
    console.info(`Dockerfile.api replay: build ${((built - started) / 1000).toFixed(1)} s, start to SIGTERM ${((Date.now() - built) / 1000).toFixed(1)} s`);
  }, 600_000);
});

describe('the replay', () => {
  async function replayText(name: string, text: string, files: Record<string, string>): Promise<void> {
    const context = join(tmp, name, 'context');
    for (const [file, content] of Object.entries(files)) {
      mkdirSync(join(context, file, '..'), { recursive: true });
      writeFileSync(join(context, file), content);
    }
    mkdirSync(join(tmp, name, 'stages'), { recursive: true });
    await replay(parseDockerfile(text), { context, workDir: join(tmp, name, 'stages') });
  }

  it('fails on a COPY whose source is not in the build context', async () => {
    const text = 'FROM scratch\nWORKDIR /app\nCOPY package.json missing.txt ./\n';
    await expect(replayText('missing', text, { 'package.json': '{}' })).rejects.toThrow(/line 3 \(COPY\): COPY missing\.txt: not found in the build context/);
  });

  it('fails on a COPY of a file that .dockerignore leaves out', async () => {
    const text = 'FROM scratch\nCOPY secret.key /\n';
    await expect(replayText('ignored', text, { 'secret.key': 'x', '.dockerignore': '*.key\n' })).rejects.toThrow(/COPY secret\.key: not found/);
  });

  it('fails on a COPY --from whose source the stage did not produce', async () => {
    const text = 'FROM scratch AS build\nWORKDIR /app\nRUN mkdir out\nFROM scratch\nCOPY --from=build /app/dist ./dist\n';
    await expect(replayText('from', text, {})).rejects.toThrow(/COPY \/app\/dist: not found in stage build/);
  });

  it('fails when a RUN fails, and runs RUN in the mapped WORKDIR with ENV and ARG', async () => {
    const text =
      'FROM scratch\nARG GREETING=hello\nENV WHO=world\nWORKDIR /app\nRUN printf "%s %s" "$GREETING" "$WHO" > out.txt \\\n && test -f out.txt\nRUN exit 3\n';
    await expect(replayText('run', text, {})).rejects.toThrow(/line 7 \(RUN\): \/bin\/sh -c exit 3 exited with 3/);
    expect(readFileSync(join(tmp, 'run', 'stages', '0-stage', 'app', 'out.txt'), 'utf8')).toBe('hello world');
  });

  it('does not run apt-get, but fails when the host lacks a package it would install', async () => {
    const text = 'FROM scratch\nRUN apt-get update && apt-get install -y --no-install-recommends git rdev-no-such-package\n';
    await expect(replayText('apt', text, {})).rejects.toThrow(/the host lacks rdev-no-such-package,/);
    await expect(replayText('apt-ok', 'FROM scratch\nRUN apt-get install -y git\n', {})).resolves.toBeUndefined();
  });

  it('refuses what it cannot replay rather than skipping it', () => {
    expect(() => parseDockerfile('FROM scratch\nADD https://example.com/x /x\n')).toThrow(/ADD is not supported/);
    expect(() => parseDockerfile('FROM scratch\nRUN <<EOF\necho\nEOF\n')).toThrow(/heredocs/);
  });

  it('reads .dockerignore as Docker does', () => {
    const ignored = dockerignore('node_modules\n**/*.log\ndocs/*\n!docs/keep.md\n');
    expect(['node_modules/x/y.js', 'a/b/c.log', 'x.log', 'docs/a.md'].filter((p) => !ignored(p))).toEqual([]);
    expect(['src/index.ts', 'docs/keep.md', 'package.json'].filter(ignored)).toEqual([]);
  });
});

describe('deploy/claudebox/Dockerfile', () => {
  const claudebox = parseDockerfile(readFileSync(join(repoRoot, 'deploy/claudebox/Dockerfile'), 'utf8'));
  const lines = claudebox.stages.flatMap((s) => s.instructions);
  const all = (keyword: string) => lines.filter((i) => i.keyword === keyword).map((i) => i.args);

  it('is node 22 or newer, and runs as a numeric non-root user in /workspace', () => {
    expect(Number(/^node:(\d+)/.exec(claudebox.stages.at(-1)!.from)?.[1])).toBeGreaterThanOrEqual(22);
    expect(all('USER').at(-1)).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(all('WORKDIR').at(-1)).toBe('/workspace');
  });

  it('has what the executor cancels with, git over ssh, Claude Code and the rdev-bot identity', () => {
    const runs = all('RUN').join('\n');
    for (const pkg of ['git', 'openssh-client', 'util-linux', 'procps']) expect(runs).toMatch(new RegExp(`apt-get install[^&]*\\s${pkg}\\s`));
    expect(runs).toContain('npm install -g "@anthropic-ai/claude-code@');
    expect(runs).toContain('git config --system user.name rdev-bot');
    expect(runs).toMatch(/chmod 1777 \/tmp/);
  });
});
