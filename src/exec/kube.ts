import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ApiException, CoreV1Api, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
// Not re-exported by the package index; used to give each exec its own streams (see openExec).
import { WebSocketHandler, type WebSocketInterface } from '@kubernetes/client-node/dist/web-socket-handler.js';
import type { Logger } from '../logger.js';
import { within, withTimeout } from './deadline.js';
import { execArgv, killArgv, parsePgid, pidFileFor, termArgv } from './kube-argv.js';
import { connectFailure, execOutcome } from './kube-status.js';
import type { ExecOutcome, ExecRequest, Executor } from './executor.js';

type Socket = Awaited<ReturnType<Exec['exec']>>;

/** Tells the executor that a pod was deleted, so that commands running in it end as LOST at once. */
export interface PodGoneSource {
  /** Calls `listener` with the reason in words when pod `pod` is deleted; returns the unsubscribe. */
  onPodGone(pod: string, listener: (reason: string) => void): () => void;
}

/** Options of {@link createKubeExecutor}. */
export interface KubeExecutorOptions {
  kubeConfig: KubeConfig;
  /** Namespace of the pods. */
  namespace: string;
  /** Container to exec into. */
  container: string;
  /**
   * Workspace used when a target names none (`ExecTarget.workspace` normally does).
   * @default '/workspace'
   */
  workspace?: string;
  /** Source of pod deletions (the kube registry); without it a deleted pod is noticed by the exec alone. */
  pods?: PodGoneSource;
  logger?: Logger;
  /**
   * How long a cancelled command's group has after SIGTERM before it gets SIGKILL.
   * @default 2000
   */
  killGraceMs?: number;
  /**
   * Bound on opening an exec WebSocket.
   * @default 15000
   */
  connectTimeoutMs?: number;
  /**
   * Bound on each control exec (the `kill`s) and on the pod check.
   * @default 5000
   */
  controlTimeoutMs?: number;
  /**
   * Interval of WebSocket pings on a command's socket.
   * @default 5000
   */
  heartbeatMs?: number;
  /**
   * A command's socket with no pong for this long is dropped, and the command is LOST.
   * @default 60000
   */
  deadAfterMs?: number;
}

/** The CLOSE channel of remotecommand v5. */
const CLOSE_CHANNEL = 255;
const V5 = 'v5.channel.k8s.io';

/**
 * Runs commands in pods through `@kubernetes/client-node`'s `Exec` (pods/exec over WebSocket, in
 * process). Exit codes come from the status channel; cancel signals the command's process group
 * with a second exec (see `kube-argv.ts` for the exact argv).
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/ (pods/exec)
 */
export function createKubeExecutor(o: KubeExecutorOptions): Executor {
  const kc = o.kubeConfig;
  const killGraceMs = o.killGraceMs ?? 2000;
  const connectTimeoutMs = o.connectTimeoutMs ?? 15_000;
  const controlTimeoutMs = o.controlTimeoutMs ?? 5000;
  const heartbeatMs = o.heartbeatMs ?? 5000;
  const deadAfterMs = o.deadAfterMs ?? 60_000;
  const api = kc.makeApiClient(CoreV1Api);
  const sockets = new Set<Socket>();
  const runs = new Set<{ stop: AbortController; done: Promise<unknown> }>();
  const cleanups = new Set<Promise<void>>();
  let closed = false;

  /** Opens one exec socket; rejects when it cannot be opened within `connectTimeoutMs`. */
  const openExec = (pod: string, argv: string[], stdout: Writable, stderr: Writable, stdin: PassThrough | null, onStatus: (s: V1Status) => void): Promise<Socket> => {
    // A handler per exec, with our streams: client-node's default one would apply a server CLOSE
    // frame to process.stdout/stderr, and the CLOSE frame must not reach Exec's handler, which
    // throws on an unknown channel inside the socket's message event.
    const handler = new WebSocketHandler(kc, undefined, { stdin: stdin ?? new PassThrough(), stdout, stderr });
    const ws: WebSocketInterface = {
      connect: (path, text, binary) => handler.connect(path, text, binary && ((channel, buff) => channel === CLOSE_CHANNEL || binary(channel, buff))),
    };
    const pending = new Exec(kc, ws).exec(o.namespace, pod, o.container, argv, stdout, stderr, stdin, false, onStatus);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no answer within ${connectTimeoutMs} ms`));
        void pending.then((late) => late.terminate(), () => undefined);
      }, connectTimeoutMs);
      pending.then(
        (socket) => {
          clearTimeout(timer);
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          resolve(socket);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(new Error(messageOf(err)));
        },
      );
    });
  };

  /** A short exec (the kills); resolves with its stdout once it ended or timed out, undefined if it could not run. */
  const control = async (pod: string, argv: string[]): Promise<string | undefined> => {
    const out: Buffer[] = [];
    const sink = (keep: boolean) =>
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          if (keep) out.push(chunk);
          callback();
        },
      });
    try {
      const socket = await openExec(pod, argv, sink(true), sink(false), null, () => undefined);
      if (!(await within(closeOf(socket), controlTimeoutMs))) socket.terminate();
    } catch (err) {
      o.logger?.warn('control exec failed', { pod, argv0: argv[0], err: messageOf(err) });
      return undefined;
    }
    return Buffer.concat(out).toString();
  };

  /** SIGTERM to the group, SIGKILL once `ended` settles or after the grace, pid file removed; false if the pod could not be reached. */
  const stopGroup = async (pod: string, pidFile: string, ended: Promise<unknown>): Promise<boolean> => {
    const out = await control(pod, termArgv(pidFile));
    if (out === undefined) return false;
    const pgid = parsePgid(out);
    if (pgid === undefined) return true; // no pid file: the command had ended, or never started
    await within(ended, killGraceMs);
    return (await control(pod, killArgv(pgid, pidFile))) !== undefined;
  };

  /**
   * Stops the process group of a command whose connection was lost. The API server may be the
   * thing that went away, so the kill is retried (1 s, 2 s, 4 s … 30 s apart, for 10 minutes)
   * until an exec reaches the pod again; otherwise the process would run on, unseen and untimed.
   */
  const reapOrphan = async (pod: string, pidFile: string): Promise<void> => {
    const deadline = Date.now() + 10 * 60_000;
    for (let delay = 1000; !closed && Date.now() < deadline; delay = Math.min(delay * 2, 30_000)) {
      // Nothing tells when it ends after SIGTERM: SIGKILL what is left after the whole grace.
      if (await stopGroup(pod, pidFile, new Promise((r) => setTimeout(r, killGraceMs)))) return;
      await new Promise((r) => setTimeout(r, delay).unref());
    }
    o.logger?.error('could not stop a lost command in its pod', { pod, pidFile });
  };

  /** Asks the API whether the pod was deleted (a SIGKILL exit may be the pod's death). */
  const podDeleted = async (pod: string): Promise<string | null> => {
    try {
      const found = await withTimeout(api.readNamespacedPod({ name: pod, namespace: o.namespace }), controlTimeoutMs);
      return found.metadata?.deletionTimestamp ? `pod ${pod} is being deleted` : null;
    } catch (err) {
      return err instanceof ApiException && err.code === 404 ? `pod ${pod} was deleted` : null;
    }
  };

  const run = async (request: ExecRequest): Promise<ExecOutcome> => {
    if (closed) throw new Error('the Kubernetes executor is closed');
    const pod = request.target.pod;
    if (!pod) throw new Error(`project ${request.target.projectId} has no pod`);
    const stop = new AbortController();
    const signal = AbortSignal.any([request.signal, stop.signal]);
    if (signal.aborted) return { type: 'aborted' };
    const pidFile = pidFileFor(randomBytes(8).toString('hex'));
    const workspace = request.target.workspace || o.workspace || '/workspace';
    const argv = execArgv({ pidFile, workspace, dir: posix.join(workspace, request.workdir), argv: request.argv, env: request.env });
    // Writes reach onOutput synchronously, so stdout and stderr keep their arrival order.
    const forward = (stream: 'STDOUT' | 'STDERR') =>
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          request.onOutput(stream, chunk);
          callback();
        },
      }).on('error', (err) => o.logger?.warn('output stream error', { pod, err: err.message }));
    const stdout = forward('STDOUT');
    const stderr = forward('STDERR');
    const stdin = request.stdin === undefined ? null : new PassThrough();
    let status: V1Status | null = null;
    let podGone: string | null = null;
    let error: string | null = null;
    let socket: Socket | undefined;
    const entry = { stop, done: Promise.resolve() as Promise<unknown> };
    runs.add(entry);
    const unsubscribe = o.pods?.onPodGone(pod, (reason) => {
      if (status) return; // it had ended already
      podGone ??= reason;
      socket?.terminate();
    });

    const body = async (): Promise<ExecOutcome> => {
      try {
        socket = await openExec(pod, argv, stdout, stderr, stdin, (s) => (status = s));
      } catch (err) {
        if (signal.aborted) return { type: 'aborted' };
        if (podGone) return { type: 'lost', reason: podGone };
        throw new Error(connectFailure(pod, messageOf(err)));
      }
      const open = socket;
      const ended = closeOf(open);
      open.on('error', (err: Error) => (error ??= err.message));
      if (podGone) open.terminate();
      if (stdin) {
        stdin.end(Buffer.from(request.stdin ?? ''));
        // Before v5 there is no half-close: client-node would close the whole socket at stdin's end.
        if (open.protocol !== V5) o.logger?.warn('exec stdin cannot be closed before remotecommand v5', { pod, protocol: open.protocol });
      }
      const stopBeat = heartbeat(open, heartbeatMs, deadAfterMs, (why) => {
        error ??= why;
        open.terminate();
      });
      let stopping: Promise<void> | undefined;
      const onAbort = (): void => {
        stopping ??= stopGroup(pod, pidFile, ended)
          .then(() => undefined)
          .finally(() => within(ended, controlTimeoutMs).then(() => open.terminate()));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      const closeCode = await ended;
      signal.removeEventListener('abort', onAbort);
      stopBeat();
      if (stopping) await stopping;
      stdout.end();
      stderr.end();
      await Promise.all([finished(stdout), finished(stderr)]).catch(() => undefined);
      const exit = execOutcome({ status });
      if (!stopping && !podGone && exit.type === 'exited' && exit.exitCode >= 128) podGone = await podDeleted(pod);
      const ending = execOutcome({ aborted: stopping !== undefined, podGone, status, closeCode, error });
      if (ending.type === 'failed') throw new Error(ending.reason);
      if (ending.type === 'lost' && !podGone) {
        // The process outlives its socket; nobody can see it any more, so stop it.
        const cleanup = reapOrphan(pod, pidFile).catch(() => undefined);
        cleanups.add(cleanup);
        void cleanup.finally(() => cleanups.delete(cleanup));
      }
      return ending;
    };

    const done = body();
    entry.done = done.catch(() => undefined);
    try {
      return await done;
    } finally {
      unsubscribe?.();
      runs.delete(entry);
    }
  };

  return {
    run,
    async close() {
      closed = true;
      for (const r of runs) r.stop.abort();
      await within(Promise.all([...runs].map((r) => r.done)), killGraceMs + 3 * controlTimeoutMs);
      await within(Promise.all(cleanups), killGraceMs + 2 * controlTimeoutMs);
      for (const s of sockets) s.terminate();
    },
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
function messageOf(err: unknown): string {
  if (err && typeof err === 'object' && 'message' in err && typeof err.message === 'string' && err.message) return err.message;
  return String(err);
}
