import { posix } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { ApiException, CoreV1Api, Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';
// Not re-exported by the package index; used to give each exec its own streams (see openExec).
// A private dist/ path can move in any release, so package.json pins @kubernetes/client-node to
// exactly 1.4.0 (not ^1.4.0): move the pin only together with a check of this import.
import { WebSocketHandler, type WebSocketInterface } from '@kubernetes/client-node/dist/web-socket-handler.js';
import type { Logger } from '../logger.js';
import { withTimeout } from './deadline.js';
import type { AttachOutcome, AttachRequest, Executor, Offsets, StartRequest, Started, SupervisedRef } from './executor.js';
import { EarlyFollow, startAndFollowArgv } from './kube-early-follow.js';
import { connectFailure, execEnding, type ExecEnding } from './kube-status.js';
import {
  checkArgv,
  followArgv,
  followVerdict,
  isFinalFollowExit,
  parseCheck,
  type CheckResult,
  parsePgid,
  removeArgv,
  signalArgv,
  spoolDirOf,
  startArgv,
} from './supervisor.js';

type Socket = Awaited<ReturnType<Exec['exec']>>;
type Stream = 'STDOUT' | 'STDERR';

/** Tells the executor that a pod was deleted, so that commands in it end as `lost` at once. */
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
  /**
   * Spool root in the pod (`RDEV_SPOOL_DIR`): a command's spool is `<spoolDir>/<command id>`.
   * @default '/tmp/rdev'
   */
  spoolDir?: string;
  /**
   * What each spool file keeps on the pod's disk, in bytes (`RDEV_MAX_OUTPUT_BYTES`): the blocks
   * past it are freed while the command runs (`StartArgvOptions.maxSpoolBytes`). Undefined or 0: no bound.
   */
  maxSpoolBytes?: number | undefined;
  /** Source of pod deletions (the kube registry); without it a deleted pod is noticed through the API. */
  pods?: PodGoneSource;
  logger?: Logger;
  /**
   * Bound on opening an exec WebSocket.
   * @default 15000
   */
  connectTimeoutMs?: number;
  /**
   * Bound on each control exec (signal, remove, the check after a follow) and on the pod check.
   * @default 5000
   */
  controlTimeoutMs?: number;
  /**
   * Interval of WebSocket pings on an exec's socket.
   * @default 5000
   */
  heartbeatMs?: number;
  /**
   * An exec socket with no pong for this long is dropped (an attach then ends `disconnected`).
   * @default 60000
   */
  deadAfterMs?: number;
}

/** The CLOSE channel of remotecommand v5. */
const CLOSE_CHANNEL = 255;
const V5 = 'v5.channel.k8s.io';
/** Follows in a row that may end with bytes left over (a follower that failed) before the attach gives up as disconnected. */
const MAX_FOLLOWS = 3;

/** How one exec went, once its socket has closed. */
type ExecResult =
  | { type: 'ended'; ending: ExecEnding }
  /** The pod was deleted meanwhile (the registry said so): the reason in words. */
  | { type: 'pod-gone'; reason: string }
  /** The caller's signal (or close()) aborted it. */
  | { type: 'aborted' }
  /** The socket could not be opened: the reason in words. */
  | { type: 'unreachable'; reason: string };

/** What {@link KubeExecutor.exec} needs besides the pod and argv. */
interface ExecIo {
  /** Bytes for stdin, then half-close; 'open' keeps stdin open until the socket closes; null: no stdin. */
  stdin: Buffer | 'open' | null;
  onOutput: (stream: Stream, bytes: Buffer) => void;
  signal: AbortSignal;
  /** Terminates the exec after this long (control execs). */
  timeoutMs?: number;
}

/**
 * Runs supervised commands in pods through `@kubernetes/client-node`'s `Exec` (pods/exec over
 * WebSocket, in process). Every operation is one exec of a script from `supervisor.ts`: `start`
 * launches the supervisor, `attach` follows the spool from byte offsets ({@link followArgv}),
 * `signal` and `remove` are short control execs. Exit codes come from the status channel.
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/ (pods/exec)
 */
export function createKubeExecutor(o: KubeExecutorOptions): Executor {
  const kc = o.kubeConfig;
  const spoolRoot = o.spoolDir ?? '/tmp/rdev';
  const connectTimeoutMs = o.connectTimeoutMs ?? 15_000;
  const controlTimeoutMs = o.controlTimeoutMs ?? 5000;
  const heartbeatMs = o.heartbeatMs ?? 5000;
  const deadAfterMs = o.deadAfterMs ?? 60_000;
  const api = kc.makeApiClient(CoreV1Api);
  // close() aborts this: every attach ends `detached` (starts and control execs run to their end).
  const closing = new AbortController();
  /** Followers that starts left running, by command id, until the attach claims them (see startFollowing). */
  const earlyFollows = new Map<string, { early: EarlyFollow; result: Promise<ExecResult>; stop: AbortController }>();
  const pending = new Set<Promise<unknown>>();

  /** Tracks `p` so that close() can wait for it. */
  const track = <T>(p: Promise<T>): Promise<T> => {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    pending.add(settled);
    void settled.then(() => pending.delete(settled));
    return p;
  };

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

  /**
   * One exec, from opening to its socket's close: output to `io.onOutput` synchronously as it
   * arrives (so stdout and stderr keep their arrival order); nothing after an abort.
   */
  const exec = async (pod: string, argv: string[], io: ExecIo): Promise<ExecResult> => {
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

  /** Asks the API whether the pod was deleted: the reason in words, or null (there, or cannot tell). */
  const podDeleted = async (pod: string): Promise<string | null> => {
    try {
      const found = await withTimeout(api.readNamespacedPod({ name: pod, namespace: o.namespace }), controlTimeoutMs);
      return found.metadata?.deletionTimestamp ? `pod ${pod} is being deleted` : null;
    } catch (err) {
      return err instanceof ApiException && err.code === 404 ? `pod ${pod} was deleted` : null;
    }
  };

  /** A short exec that must exit 0 within `controlTimeoutMs`; resolves with its stdout, rejects in words. */
  const control = async (pod: string, argv: string[], what: string): Promise<string> => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const r = await exec(pod, argv, {
      stdin: null,
      onOutput: (stream, bytes) => (stream === 'STDOUT' ? out : err).push(bytes),
      signal: new AbortController().signal,
      timeoutMs: controlTimeoutMs,
    });
    const fail = (reason: string) => new Error(`cannot ${what} in pod ${pod}: ${reason}`);
    switch (r.type) {
      case 'aborted': // not abortable
      case 'pod-gone':
      case 'unreachable':
        throw fail(r.type === 'aborted' ? 'aborted' : r.reason);
      case 'ended':
        if (r.ending.type === 'exit' && r.ending.exitCode === 0) return Buffer.concat(out).toString();
        if (r.ending.type === 'exit') throw fail(`exit code ${r.ending.exitCode}: ${Buffer.concat(err).toString().trim() || 'no message'}`);
        throw fail((await podDeleted(pod)) ?? r.ending.reason);
    }
  };

  const podOf = (ref: SupervisedRef): string => {
    if (closing.signal.aborted) throw new Error('the Kubernetes executor is closed');
    const pod = ref.target.pod;
    if (!pod) throw new Error(`project ${ref.target.projectId} has no pod`);
    return pod;
  };

  /**
   * A start without stdin: one exec that starts the command and goes on as its follower from
   * offset 0 ({@link startAndFollowArgv}), one exec round trip fewer before the first output and
   * the end. The follower waits in {@link earlyFollows} for the attach that comes next.
   */
  const startFollowing = async (pod: string, request: StartRequest, start: string[]): Promise<Started> => {
    const commandId = request.commandId;
    const stop = new AbortController();
    const early: EarlyFollow = new EarlyFollow(() => {
      if (earlyFollows.get(commandId)?.early === early) earlyFollows.delete(commandId);
      stop.abort();
    });
    const argv = startAndFollowArgv(start, followArgv(spoolDirOf(spoolRoot, commandId), { stdout: 0, stderr: 0 }));
    const result = track(exec(pod, argv, { stdin: 'open', onOutput: (stream, bytes) => early.output(stream, bytes), signal: stop.signal }));
    void result.finally(() => early.ended()).catch(() => undefined);
    // Not aborted by close() until the start is through (a start runs to its end); the follower is, as any attach.
    const line = await early.started;
    const fail = (reason: string) => new Error(`cannot start the command in pod ${pod}: ${reason}`);
    if (line?.code === 0) {
      const onClose = (): void => stop.abort();
      if (closing.signal.aborted) onClose();
      else closing.signal.addEventListener('abort', onClose, { once: true });
      void result.finally(() => closing.signal.removeEventListener('abort', onClose)).catch(() => undefined);
      earlyFollows.set(commandId, { early, result, stop });
      return { pgid: parsePgid(line.text) ?? null };
    }
    const r = await result;
    if (line) throw fail(`the start script exited ${line.code}: ${line.text || 'no message'}`);
    if (r.type === 'aborted') throw fail('the Kubernetes executor closed');
    if (r.type !== 'ended') throw fail(r.reason);
    if (r.ending.type === 'exit') throw fail(`the start script exited ${r.ending.exitCode}: no message`);
    throw fail((await podDeleted(pod)) ?? r.ending.reason);
  };

  const start = async (request: StartRequest): Promise<Started> => {
    const pod = podOf(request);
    const workspace = request.target.workspace || o.workspace || '/workspace';
    const argv = startArgv({
      spool: spoolDirOf(spoolRoot, request.commandId),
      workspace,
      dir: posix.join(workspace, request.workdir),
      argv: request.argv,
      env: request.env,
      stdin: request.stdin !== undefined,
      maxSpoolBytes: o.maxSpoolBytes,
    });
    if (request.stdin === undefined) return startFollowing(pod, request, argv);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const r = await exec(pod, argv, {
      stdin: request.stdin === undefined ? null : Buffer.from(request.stdin),
      onOutput: (stream, bytes) => (stream === 'STDOUT' ? out : err).push(bytes),
      signal: new AbortController().signal,
    });
    const fail = (reason: string) => new Error(`cannot start the command in pod ${pod}: ${reason}`);
    if (r.type === 'aborted') throw fail('the Kubernetes executor closed');
    if (r.type !== 'ended') throw fail(r.reason);
    const ending = r.ending;
    if (ending.type === 'exit' && ending.exitCode === 0) return { pgid: parsePgid(Buffer.concat(out).toString()) ?? null };
    if (ending.type === 'exit') throw fail(`the start script exited ${ending.exitCode}: ${Buffer.concat(err).toString().trim() || 'no message'}`);
    throw fail((await podDeleted(pod)) ?? ending.reason);
  };

  const attach = async (request: AttachRequest): Promise<AttachOutcome> => {
    const pod = podOf(request);
    const spool = spoolDirOf(spoolRoot, request.commandId);
    const delivered: Offsets = { ...request.offsets };
    const onOutput = (stream: Stream, bytes: Buffer): void => {
      if (stream === 'STDOUT') delivered.stdout += bytes.length;
      else delivered.stderr += bytes.length;
      request.onOutput(stream, bytes);
    };
    /** The connection broke: `lost` if the pod was deleted, else `disconnected`. */
    const broke = async (reason: string): Promise<AttachOutcome> => {
      const deleted = await podDeleted(pod);
      return deleted ? { type: 'lost', reason: deleted } : { type: 'disconnected', reason };
    };
    // The follower the start left running, when this attach is the one it was for (from offset 0).
    let first: Promise<ExecResult> | undefined;
    const pre = earlyFollows.get(request.commandId);
    earlyFollows.delete(request.commandId);
    if (pre && delivered.stdout === 0 && delivered.stderr === 0 && pre.early.claim(onOutput)) {
      const detach = (): void => pre.stop.abort();
      if (request.signal.aborted) detach();
      else request.signal.addEventListener('abort', detach, { once: true });
      first = pre.result.finally(() => request.signal.removeEventListener('abort', detach));
    } else pre?.stop.abort();
    for (let follows = 1; ; follows++) {
      const r = first
        ? await first
        : await exec(pod, followArgv(spool, delivered), { stdin: 'open', onOutput, signal: AbortSignal.any([request.signal, closing.signal]) });
      first = undefined;
      if (r.type === 'aborted') return { type: 'detached' };
      if (r.type === 'pod-gone') return { type: 'lost', reason: r.reason };
      if (r.type === 'unreachable') return broke(r.reason);
      if (r.ending.type !== 'exit') return broke(r.ending.reason);
      const code = r.ending.exitCode;
      if (isFinalFollowExit(code)) return { type: 'exited', exitCode: code };
      // 128 or more: a real exit code, or the follower's own end (killed with the pod, no record): look.
      let check: CheckResult | undefined;
      try {
        check = parseCheck(await control(pod, checkArgv(spool), 'check the command'));
      } catch (err) {
        if (request.signal.aborted || closing.signal.aborted) return { type: 'detached' };
        return broke(messageOf(err));
      }
      if (!check) return { type: 'disconnected', reason: `cannot tell how the command in pod ${pod} ended (its follower exited ${code})` };
      const verdict = followVerdict(check, delivered, spool);
      if (verdict.type === 'exited' || verdict.type === 'lost') return verdict;
      if (verdict.type === 'running' || follows >= MAX_FOLLOWS) {
        return { type: 'disconnected', reason: `the follower in pod ${pod} ended (exit ${code}) before the command's output did` };
      }
      // 'again': the record exists and bytes remain; the next follow prints them and ends.
    }
  };

  const signal = async (ref: SupervisedRef, sig: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
    const pod = podOf(ref);
    await control(pod, signalArgv(spoolDirOf(spoolRoot, ref.commandId), sig === 'SIGTERM' ? 'TERM' : 'KILL'), `send ${sig} to the command`);
  };

  const remove = async (ref: SupervisedRef): Promise<void> => {
    const pod = podOf(ref);
    await control(pod, removeArgv(spoolDirOf(spoolRoot, ref.commandId)), 'remove the spool');
  };

  return {
    start: (request) => track(start(request)),
    attach: (request) => track(attach(request)),
    signal: (ref, sig) => track(signal(ref, sig)),
    remove: (ref) => track(remove(ref)),
    async close() {
      closing.abort();
      // Aborted execs terminate their sockets; each settles once its socket has closed.
      await Promise.all([...pending]);
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
