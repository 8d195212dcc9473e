// A cancel that comes while the command's start is still in flight (a cancel right after the
// mutation, on a busy machine where the start script takes a while). The start is held at a gate in
// front of the real local executor until whatever signals the server sent meanwhile have given up:
// before the fix, SIGTERM and SIGKILL each waited their 2 s for a process group, found none, and were
// dropped, and the command (`sleep 300`) ran on RUNNING for good.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Executor } from '../../src/exec/executor.js';
import { createLocalExecutor } from '../../src/exec/local.js';
import { gqlData, runShell, until, waitFinal } from '../api/client.js';

let root: string;
let app: App;
let server: Server;
let url: string;
/** The gate the start waits at, and what the executor was asked to do meanwhile. */
let open!: () => void;
const gate = new Promise<void>((resolve) => (open = resolve));
const signals = { sent: 0, returned: 0 };
let startsWaiting = 0;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'rdev-stop-during-start-'));
  const project = path.join(root, 'demo');
  mkdirSync(project);
  execFileSync('git', ['init', '-q', project]);
  writeFileSync(path.join(root, 'projects.yaml'), 'projects:\n  - { id: demo, path: demo }\n');
  const config = loadConfig({
    PORT: '0',
    RDEV_DATA_DIR: path.join(root, 'data'),
    RDEV_PROJECTS_FILE: path.join(root, 'projects.yaml'),
    RDEV_LOG_LEVEL: 'silent',
    RDEV_ON_SHUTDOWN: 'stop',
    RDEV_SHUTDOWN_GRACE_SECONDS: '0',
  });
  const real = createLocalExecutor({ spoolDir: config.spoolDir });
  const executor: Executor = {
    ...real,
    start: async (request) => {
      startsWaiting++;
      await gate;
      return real.start(request);
    },
    signal: async (ref, sig) => {
      signals.sent++;
      try {
        await real.signal(ref, sig);
      } finally {
        signals.returned++;
      }
    },
  };
  app = await createApp(config, { executor });
  await until(() => app.registry.readiness().ready, 10_000, 'the registry to load');
  server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  open();
  await app?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  rmSync(root, { recursive: true, force: true });
});

describe('a cancel while the start is in flight', () => {
  it('stops the command once it has started: CANCELED, not left running', async () => {
    const id = await runShell(url, 'demo', 'sleep 300');
    await until(() => startsWaiting === 1, 10_000, 'the start to reach the gate');
    expect((await gqlData(url, `mutation($id: ID!) { cancelCommand(id: $id) { id status } }`, { id })).cancelCommand.status).toBe('RUNNING');
    // Signals sent before the start (none, now) must have given up before the start goes on, SIGKILL included
    // (it follows SIGTERM after the kill grace): the command then starts with nobody left to stop it but the fix.
    await until(() => signals.sent === 0 || (signals.sent === 2 && signals.returned === 2), 30_000, 'the signals sent meanwhile to give up');
    open();
    // CANCELED is recorded once the supervisor saw the command's group gone.
    const done = await waitFinal(url, id, 60_000);
    expect({ status: done.status, exitCode: done.exitCode }).toEqual({ status: 'CANCELED', exitCode: null });
    expect(signals.sent).toBeGreaterThanOrEqual(1);
  });
});
