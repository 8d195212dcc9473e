// The output cap holds across a restart: a server that adopts a running command goes on from the
// meter's stored count, instead of starting it again at 0 (which let a command store up to twice
// the cap, and more with every restart). Two commands run under RDEV_MAX_OUTPUT_BYTES=4096 through
// the real server process: one below the cap when the server is SIGKILLed, one past it. Both
// write the rest of their output only once a new server runs on the same data directory.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlData, runShell, untilProjectReady, waitFinal } from '../api/client.js';
import { pollUntil, startServer, type ServerProcess } from './server-process.js';

const CAP = 4096;
const OUTPUT = `query($id: ID!) { command(id: $id) { output(first: 1000) { stream text } } }`;

/** Lines of 100 bytes: `count` zero-padded numbers from `from` on. */
const lines = (from: number, count: number): string => Array.from({ length: count }, (_, i) => `${String(from + i).padStart(99, '0')}\n`).join('');

/** A command printing `before` such lines, then, once `gate` exists, `after` more. */
const gated = (gate: string, before: number, after: number): string =>
  `i=0; while [ $i -lt ${before} ]; do printf '%099d\\n' $i; i=$((i+1)); done; ` +
  `while [ ! -e '${gate}' ]; do sleep 0.02; done; ` +
  `i=${before}; while [ $i -lt ${before + after} ]; do printf '%099d\\n' $i; i=$((i+1)); done`;

describe('the output cap across a restart', () => {
  let root: string;
  let env: Record<string, string>;
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'rdev-capped-restart-'));
    env = { RDEV_DATA_DIR: path.join(root, 'data'), RDEV_MAX_OUTPUT_BYTES: String(CAP) };
    server = await startServer({ env });
    await untilProjectReady(server.url);
  });

  afterAll(async () => {
    await server?.kill();
    rmSync(root, { recursive: true, force: true });
  });

  const storedOf = async (id: string): Promise<Array<{ stream: string; text: string }>> =>
    (await gqlData<{ command: { output: Array<{ stream: string; text: string }> } }>(server!.url, OUTPUT, { id })).command.output;

  it('a SIGKILLed server and its successor together store no more than the cap, and count every byte', async () => {
    const gate = path.join(root, 'gate');
    // 30 lines (3000 bytes, below the cap) before the restart, then 60; 50 lines (past it) before, then 40.
    const below = await runShell(server!.url, 'demo', gated(gate, 30, 60));
    const past = await runShell(server!.url, 'demo', gated(gate, 50, 40));
    // The first 40 lines (4000 bytes) are what fits under the cap in whole lines.
    const kept = lines(0, 40);
    const stdoutOf = (output: Array<{ stream: string; text: string }>): string =>
      output
        .filter((o) => o.stream === 'STDOUT')
        .map((o) => o.text)
        .join('');
    await pollUntil(
      'the output before the restart to be stored',
      async () => [stdoutOf(await storedOf(below)), stdoutOf(await storedOf(past))],
      ([a, b]) => a === lines(0, 30) && b === kept,
      60_000,
    );
    const port = new URL(server!.url).port;
    await server!.kill();
    server = await startServer({ env: { ...env, PORT: port } });
    writeFileSync(gate, '');

    for (const id of [below, past]) {
      const final = await waitFinal(server.url, id, 60_000);
      expect({ status: final.status, exitCode: final.exitCode }).toEqual({ status: 'SUCCEEDED', exitCode: 0 });
      const output = await storedOf(id);
      // 9000 bytes written: 4000 kept (40 whole lines), then the one marker for the 5000 dropped.
      expect({ stdout: stdoutOf(output), stderr: output.filter((o) => o.stream === 'STDERR').map((o) => o.text) }).toEqual({
        stdout: kept,
        stderr: [`[rdev] output limit of ${CAP} bytes reached: 5000 bytes of output were dropped\n`],
      });
    }
    // The audit counts every byte; the digest is null (unknown) for what a server adopted.
    const auditFile = path.join(env.RDEV_DATA_DIR!, 'audit.log');
    const finished = await pollUntil(
      'the audit of both ends',
      () =>
        existsSync(auditFile)
          ? readFileSync(auditFile, 'utf8')
              .split('\n')
              .filter((l) => l.includes('"finished"'))
              .map((l) => JSON.parse(l))
          : [],
      (entries) => [below, past].every((id) => entries.some((e) => e.commandId === id)),
      30_000,
    );
    expect([below, past].map((id) => finished.find((e) => e.commandId === id)).map((e) => [e.commandId, e.outputBytes, e.outputSha256])).toEqual([
      [below, 9000, null],
      [past, 9000, null],
    ]);
  });
});
