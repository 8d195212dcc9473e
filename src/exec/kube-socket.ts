/**
 * One `pods/exec` over WebSocket, from opening the socket to its close, through
 * `@kubernetes/client-node`'s `Exec`: the stdout/stderr channels, stdin and its half-close on the
 * v5 CLOSE channel, the heartbeat, the connect bound and the close code. What the exec runs and
 * what its result means is the executor's (`createKubeExecutor` in `kube.ts`); this module only carries bytes.
 *
 * @see https://github.com/kubernetes/enhancements/tree/master/keps/sig-api-machinery/4006-transition-spdy-to-websockets (remotecommand v5)
 */
import { PassThrough, Writable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
// Not re-exported by the package index; used to give each exec its own streams (see openExec).
// A private dist/ path can move in any release, so package.json pins @kubernetes/client-node to
// exactly 1.4.0 (not ^1.4.0): move the pin only together with a check of this import.
import { WebSocketHandler, type WebSocketInterface } from '@kubernetes/client-node/dist/web-socket-handler.js';
import type { Logger } from '../logger.js';
import { connectFailure, execEnding, type ExecEnding } from './kube-status.js';

type Socket = Awaited<ReturnType<Exec['exec']>>;
/** The output channel a chunk came on. */
export type Stream = 'STDOUT' | 'STDERR';

/** Tells the executor that a pod was deleted, so that commands in it end as `lost` at once. */
export interface PodGoneSource {
  /** Calls `listener` with the reason in words when pod `pod` is deleted; returns the unsubscribe. */
  onPodGone(pod: string, listener: (reason: string) => void): () => void;
}

/** The CLOSE channel of remotecommand v5. */
const CLOSE_CHANNEL = 255;
const V5 = 'v5.channel.k8s.io';

/** How one exec went, once its socket has closed. */
export type ExecResult =
  | { type: 'ended'; ending: ExecEnding }
  /** The pod was deleted meanwhile (the registry said so): the reason in words. */
  | { type: 'pod-gone'; reason: string }
  /** The caller's signal (or close()) aborted it. */
  | { type: 'aborted' }
  /** The socket could not be opened: the reason in words. */
  | { type: 'unreachable'; reason: string };

/** What an {@link ExecRunner} needs besides the pod and argv. */
export interface ExecIo {
  /** Bytes for stdin, then half-close; 'open' keeps stdin open until the socket closes; null: no stdin. */
  stdin: Buffer | 'open' | null;
  onOutput: (stream: Stream, bytes: Buffer) => void;
  signal: AbortSignal;
  /** Terminates the exec after this long (control execs). */
  timeoutMs?: number;
}

/**
 * One exec, from opening to its socket's close: output to `io.onOutput` synchronously as it
 * arrives (so stdout and stderr keep their arrival order); nothing after an abort.
 */
export type ExecRunner = (pod: string, argv: string[], io: ExecIo) => Promise<ExecResult>;

/** Options of {@link createExecRunner}: the executor's, with its defaults applied. */
export interface ExecRunnerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  container: string;
  pods?: PodGoneSource | undefined;
  logger?: Logger | undefined;
  /** Bound on opening an exec WebSocket. */
  connectTimeoutMs: number;
  /** Interval of WebSocket pings on an exec's socket. */
  heartbeatMs: number;
  /** An exec socket with no pong for this long is dropped. */
  deadAfterMs: number;
}

/** Makes the {@link ExecRunner} of one executor; its exec sockets share one HTTPS agent. */
export function createExecRunner(o: ExecRunnerOptions): ExecRunner {
  const kc = o.kubeConfig;
  const { connectTimeoutMs, heartbeatMs, deadAfterMs } = o;

  // One agent for every exec socket: the first exec's, kept. A new agent per socket (client-node's way) meant a full TLS
  // handshake each time (both sides verify certificates); one agent resumes the TLS session it cached. The agent holds
  // only the TLS (and proxy) settings of the kubeconfig, which are read once anyway; the credentials go in each
  // request's headers, made per exec as before. An upgraded socket leaves the agent: nothing else is shared.
  type HttpsOptions = Parameters<KubeConfig['applyToHTTPSOptions']>[0];
  let agent: HttpsOptions['agent'];
  const sharedAgentConfig: KubeConfig = Object.create(kc, {
    applyToHTTPSOptions: {
      value: async (opts: HttpsOptions): Promise<void> => {
        await kc.applyToHTTPSOptions(opts);
        opts.agent = agent ??= opts.agent;
      },
    },
  }) as KubeConfig;

  /** Opens one exec socket; rejects when it cannot be opened within `connectTimeoutMs`. */
  const openExec = (
    pod: string,
    argv: string[],
    stdout: Writable,
    stderr: Writable,
    stdin: PassThrough | null,
    onStatus: (s: V1Status) => void,
  ): Promise<Socket> => {
    // A handler per exec, with our streams: client-node's default one would apply a server CLOSE
    // frame to process.stdout/stderr, and the CLOSE frame must not reach Exec's handler, which
    // throws on an unknown channel inside the socket's message event.
    const handler = new WebSocketHandler(sharedAgentConfig, undefined, { stdin: stdin ?? new PassThrough(), stdout, stderr });
    const ws: WebSocketInterface = {
      connect: (path, text, binary) => handler.connect(path, text, binary && ((channel, buff) => channel === CLOSE_CHANNEL || binary(channel, buff))),
    };
    const opening = new Exec(kc, ws).exec(o.namespace, pod, o.container, argv, stdout, stderr, stdin, false, onStatus);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no answer within ${connectTimeoutMs} ms`));
        void opening.then(
          (late) => late.terminate(),
          () => undefined,
        );
      }, connectTimeoutMs);
      opening.then(
        (socket) => {
          clearTimeout(timer);
          resolve(socket);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(new Error(messageOf(err)));
        },
      );
    });
  };

  return async (pod: string, argv: string[], io: ExecIo): Promise<ExecResult> => {
    const signal = io.signal;
    if (signal.aborted) return { type: 'aborted' };
    let podGone: string | null = null;
    let status: V1Status | null = null;
    let error: string | null = null;
    let socket: Socket | undefined;
    const forward = (stream: Stream) =>
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (!signal.aborted && !podGone) io.onOutput(stream, chunk);
          callback();
        },
      }).on('error', (err) => o.logger?.warn('exec output stream error', { pod, err: err.message }));
    const stdin = io.stdin === null ? null : new PassThrough();
    const unsubscribe = o.pods?.onPodGone(pod, (reason) => {
      podGone ??= reason;
      socket?.terminate();
    });
    const onAbort = (): void => socket?.terminate();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      try {
        socket = await openExec(pod, argv, forward('STDOUT'), forward('STDERR'), stdin, (s) => (status = s));
      } catch (err) {
        if (signal.aborted) return { type: 'aborted' };
        if (podGone) return { type: 'pod-gone', reason: podGone };
        return { type: 'unreachable', reason: connectFailure(pod, messageOf(err)) };
      }
      const open = socket;
      const closed = closeOf(open);
      open.on('error', (err: Error) => (error ??= err.message));
      if (signal.aborted || podGone) open.terminate();
      if (stdin && io.stdin !== 'open') {
        // client-node half-closes (v5 CLOSE) when the stream ends; before v5 it would close the socket.
        if (open.protocol !== V5) o.logger?.warn('exec stdin cannot be closed before remotecommand v5', { pod, protocol: open.protocol });
        stdin.end(io.stdin);
      }
      const stopBeat = heartbeat(open, heartbeatMs, deadAfterMs, (why) => {
        error ??= why;
        open.terminate();
      });
      const timer =
        io.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              error ??= `no exit status within ${io.timeoutMs} ms`;
              open.terminate();
            }, io.timeoutMs);
      const closeCode = await closed;
      stopBeat();
      clearTimeout(timer);
      if (podGone) return { type: 'pod-gone', reason: podGone };
      // Output after the abort was dropped: even an exit status cannot make it complete.
      if (signal.aborted) return { type: 'aborted' };
      return { type: 'ended', ending: execEnding({ status, closeCode, error }) };
    } finally {
      signal.removeEventListener('abort', onAbort);
      unsubscribe?.();
      stdin?.destroy();
    }
  };
}

/** Resolves with the close code when the socket has closed. */
function closeOf(socket: Socket): Promise<number> {
  if (socket.readyState === socket.CLOSED) return Promise.resolve(1006);
  return new Promise((resolve) => socket.once('close', (code: number) => resolve(code)));
}

/**
 * Pings every `intervalMs` and calls `dead` once no pong has come for `deadAfterMs` (a peer that
 * vanished without closing the connection). client-go does the same: a 5 s ping, 61 s read deadline.
 * Returns the stop.
 */
function heartbeat(socket: Socket, intervalMs: number, deadAfterMs: number, dead: (why: string) => void): () => void {
  let lastPong = Date.now();
  const onPong = (): void => {
    lastPong = Date.now();
  };
  socket.on('pong', onPong);
  const timer = setInterval(() => {
    if (Date.now() - lastPong > deadAfterMs) return dead(`no answer to WebSocket pings for ${Math.round((Date.now() - lastPong) / 1000)} s`);
    try {
      socket.ping();
    } catch {
      // not open any more: 'close' follows
    }
  }, intervalMs);
  return () => {
    clearInterval(timer);
    socket.off('pong', onPong);
  };
}

/** The message of an Error, or of the ErrorEvent `ws` hands to `onerror`. */
export function messageOf(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err && typeof err.message === 'string' && err.message) return err.message;
  return String(err);
}
