import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runShell, until } from './client.js';
import { readSse } from './sse-reader.js';

const root = path.resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Starts `src/server.ts` as its own process, as `npm start` would (through tsx, without the build). */
function startServer(env: Record<string, string>): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (b) => (output += b));
  child.stderr!.on('data', (b) => (output += b));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('the server process', () => {
  it('stops at start with one line naming a bad variable', async () => {
    const { exited, output } = startServer({ PORT: 'eighty' });
    expect(await exited).toBe(2);
    expect(output().trim()).toBe('rdev-api: configuration error: PORT="eighty": must be a whole number');
  });

  it('npm start prints one line while it builds, then serves /health (the time is printed)', async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'rdev-server-'));
    dirs.push(data);
    const began = Date.now();
    const child = spawn('npm', ['start', '--silent'], {
      cwd: root,
      env: { ...process.env, PORT: '0', RDEV_DATA_DIR: data },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout!.on('data', (b) => (output += b));
    child.stderr!.on('data', (b) => (output += b));
    try {
      await until(() => /"msg":"listening"/.test(output), 60_000, 'the server to listen');
      const port = JSON.parse(output.split('\n').find((l) => l.includes('"listening"'))!).port;
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      console.info(`npm start → /health: ${Date.now() - began} ms`);
      const lines = output.split('\n').filter((l) => l && !l.startsWith('{'));
      expect(lines).toEqual([
        expect.stringMatching(
          /^rdev-api: building dist\/ from src\/ \(esbuild, no type check: npm test checks types\) … \d+ sources, \d+ files written in \d+ ms/,
        ),
      ]);
    } finally {
      process.kill(-child.pid!, 'SIGKILL');
    }
  });

  it('stops at start with one line when the port is taken, before it touches the data directory', async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'rdev-server-'));
    dirs.push(data);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const { exited, output } = startServer({ PORT: String(port), RDEV_DATA_DIR: path.join(data, 'state') });
      expect(await exited).toBe(2);
      expect(output().trim()).toBe(
        `rdev-api: cannot listen on 127.0.0.1:${port}: the address is already in use (is another server running? choose another PORT)`,
      );
      expect(existsSync(path.join(data, 'state'))).toBe(false);
    } finally {
      taken.close();
    }
  });

  it('with RDEV_ON_SHUTDOWN=stop, SIGTERM ends streams, stops running commands (their whole tree) and exits 0', async () => {
    const data = mkdtempSync(path.join(tmpdir(), 'rdev-server-'));
    dirs.push(data);
    const { child, output, exited } = startServer({ PORT: '0', RDEV_DATA_DIR: data, RDEV_SHUTDOWN_GRACE_SECONDS: '1', RDEV_ON_SHUTDOWN: 'stop' });
    await until(() => /"msg":"listening"/.test(output()), 20_000, 'the server to listen');
    const port = JSON.parse(
      output()
        .split('\n')
        .find((l) => l.includes('"listening"'))!,
    ).port;
    const url = `http://127.0.0.1:${port}`;

    const id = await runShell(url, 'demo', 'sleep 303.75 & echo started; wait');
    const frames: string[] = [];
    const streaming = (async () => {
      for await (const f of readSse(`${url}/projects/demo/events?stream_id=${id}`)) {
        frames.push(f.event === 'complete' ? `complete:${JSON.parse(f.data).status}` : f.event);
      }
      return 'ended';
    })();
    await until(() => frames.includes('output'), 10_000, 'output to stream');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(streaming).resolves.toBe('ended');
    expect(frames.filter((f) => f !== ':')).toEqual(['output', 'complete:lost']);
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('ps', ['-eo', 'args']).toString()).not.toContain('sleep 303.75');
  });
});
