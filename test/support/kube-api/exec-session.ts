/**
 * One `pods/exec` stream: the remotecommand WebSocket protocol (v4/v5 channel.k8s.io) bridged
 * to a child process.
 *
 * @see https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apimachinery/pkg/util/remotecommand/constants.go
 */
import type { ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import WebSocket from 'ws';
import { execExitStatus, failureStatus, type KubeStatus } from './status.js';

/** Subprotocols this server speaks, preferred first. v5 adds the CLOSE channel. */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

/** Channel bytes of the remotecommand protocol. */
export const Channel = { stdin: 0, stdout: 1, stderr: 2, status: 3, resize: 4, close: 255 } as const;

/** The exec query (`command`, `container`, `stdin`, `stdout`, `stderr`, `tty`). */
export interface ExecParams {
  argv: string[];
  container: string | null;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Parses the exec query string, or returns the 400 Status the real server would. */
export function parseExecParams(query: URLSearchParams): ExecParams | KubeStatus {
  const flag = (name: string) => ['true', '1'].includes((query.get(name) ?? '').toLowerCase());
  const params: ExecParams = {
    argv: query.getAll('command'),
    container: query.get('container'),
    stdin: flag('stdin'),
    stdout: flag('stdout'),
    stderr: flag('stderr'),
    tty: flag('tty'),
  };
  if (params.argv.length === 0) return failureStatus(400, 'you must specify at least one command for the container');
  if (!params.stdin && !params.stdout && !params.stderr) {
    return failureStatus(400, 'you must specify at least 1 of stdin, stdout, stderr');
  }
  return params;
}

/** Picks the subprotocol from a `Sec-WebSocket-Protocol` header, or undefined when none is supported. */
export function pickProtocol(header: string | undefined): string | undefined {
  const offered = (header ?? '').split(',').map((p) => p.trim());
  return EXEC_PROTOCOLS.find((p) => offered.includes(p));
}

// Above this many queued bytes the child's output is paused until the socket drains.
const HIGH_WATER = 1 << 20;

/** An exec stream in progress. */
export interface ExecSession {
  readonly podUid: string;
  /** Resolves when the process (and its stdout/stderr) have closed, with the exit code. */
  readonly exited: Promise<number>;
  /** Destroys the socket abruptly: no status, no close frame. The process keeps running. */
  cut(): void;
}

/**
 * Bridges `ws` and `child`: sends the initial empty frame, forwards stdout/stderr (both on
 * stdout under tty, since there is no pty), feeds channel 0 to stdin, and after the process
 * closes sends the exit Status on channel 3 and closes the socket. If the socket goes first,
 * the process is left running (stdin gets EOF, output is drained and dropped), as in a real
 * pod (kubernetes/kubernetes#73056).
 */
export function startExecSession(ws: WebSocket, child: ChildProcess, params: ExecParams, podUid: string): ExecSession {
  const v5 = ws.protocol === 'v5.channel.k8s.io';
  const open = () => ws.readyState === WebSocket.OPEN;

  // Right after the upgrade the API server writes an empty frame on the lowest writable channel.
  ws.send(Buffer.from([params.stdout ? Channel.stdout : params.stderr ? Channel.stderr : Channel.status]));

  const forward = (stream: Readable | null, channel: number, wanted: boolean) => {
    stream?.on('data', (chunk: Buffer) => {
      if (!wanted || !open()) return;
      ws.send(Buffer.concat([Buffer.from([channel]), chunk]), () => {
        if (stream.isPaused() && ws.bufferedAmount <= HIGH_WATER) stream.resume();
      });
      if (ws.bufferedAmount > HIGH_WATER) stream.pause();
    });
  };
  forward(child.stdout, Channel.stdout, params.stdout);
  forward(child.stderr, params.tty ? Channel.stdout : Channel.stderr, params.tty ? params.stdout : params.stderr);

  const stdin = child.stdin;
  stdin?.on('error', () => {
    // EPIPE when the process stops reading; the real runtime drops such input too
  });
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length === 0) return;
    const channel = data[0];
    if (channel === Channel.stdin && stdin && !stdin.writableEnded) stdin.write(data.subarray(1));
    else if (channel === Channel.close && v5 && data[1] === Channel.stdin) stdin?.end();
    // Resize (4) is accepted and ignored: there is no pty.
  });
  ws.on('close', () => {
    stdin?.end();
    // Keep draining so the process never blocks on a full pipe.
    child.stdout?.resume();
    child.stderr?.resume();
  });
  ws.on('error', () => {
    // a cut socket; 'close' follows
  });

  const exited = new Promise<number>((resolve) => {
    child.on('error', (err) => {
      if (open()) sendStatus(ws, failureStatus(500, `error executing command in container: ${err.message}`));
      resolve(126);
    });
    child.on('close', (code, signal) => {
      const exitCode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
      if (open()) sendStatus(ws, execExitStatus(params.argv, exitCode));
      resolve(exitCode);
    });
  });

  return { podUid, exited, cut: () => ws.terminate() };
}

function sendStatus(ws: WebSocket, status: KubeStatus): void {
  ws.send(Buffer.concat([Buffer.from([Channel.status]), Buffer.from(JSON.stringify(status))]));
  ws.close(1000);
}
