import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { gqlData, runShell, waitFinal } from '../api/client.js';

const root = mkdtempSync(path.join(tmpdir(), 'rdev-retention-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An app on port 0 over the data directory `root` (SQLite history), with extra configuration. */
async function start(env: Record<string, string> = {}) {
  const app = await createApp(loadConfig({ RDEV_DATA_DIR: root, RDEV_LOG_LEVEL: 'silent', RDEV_SHUTDOWN_GRACE_SECONDS: '0', ...env }));
  const server = createServer((req, res) => app.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async close() {
      await app.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

const OUTPUT = `query($id: ID!) { command(id: $id) { status exitCode prunedAt output { stream text } } }`;

describe('retention', () => {
  it('deletes the oldest finished output past RDEV_RETENTION_MAX_BYTES, keeps the newest, and says so in output', async () => {
    const first = await start();
    const old = await runShell(first.url, 'demo', 'seq 1 1000');
    await waitFinal(first.url, old);
    const recent = await runShell(first.url, 'demo', 'echo recent');
    await waitFinal(first.url, recent);
    await first.close();

    // Retention runs when the server starts: 100 bytes keep only the newest command's output.
    const second = await start({ RDEV_RETENTION_MAX_BYTES: '100' });
    try {
      const pruned = (await gqlData(second.url, OUTPUT, { id: old })).command;
      expect(pruned).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, prunedAt: expect.any(String) });
      expect(pruned.output).toEqual([{ stream: 'STDERR', text: `[rdev] this command's output was deleted by retention at ${pruned.prunedAt}\n` }]);
      expect((await gqlData(second.url, OUTPUT, { id: recent })).command).toEqual({
        status: 'SUCCEEDED',
        exitCode: 0,
        prunedAt: null,
        output: [{ stream: 'STDOUT', text: 'recent\n' }],
      });
    } finally {
      await second.close();
    }
  });
});
