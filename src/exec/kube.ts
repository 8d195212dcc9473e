import { posix } from 'node:path';
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../logger.js';
import { withTimeout } from './deadline.js';
import type { AttachOutcome, AttachRequest, Executor, Offsets, StartRequest, Started, SupervisedRef } from './executor.js';
import { EarlyFollow, startAndFollowArgv } from './kube-early-follow.js';
import { createExecRunner, messageOf, type ExecResult, type PodGoneSource, type Stream } from './kube-socket.js';
import { parsePgid, removeArgv, signalArgv, spoolDirOf, startArgv } from './supervisor.js';
import { checkArgv, followArgv, followVerdict, isFinalFollowExit, parseCheck, type CheckResult } from './supervisor-follow.js';

export type { PodGoneSource } from './kube-socket.js';

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

/** Follows in a row that may end with bytes left over (a follower that failed) before the attach gives up as disconnected. */
const MAX_FOLLOWS = 3;

/**
 * Runs supervised commands in pods through `@kubernetes/client-node`'s `Exec` (pods/exec over
 * WebSocket, in process, through `kube-socket.ts`). Every operation is one exec of a script from
 * `supervisor.ts` or `supervisor-follow.ts`: `start` launches the supervisor, `attach` follows the
 * spool from byte offsets ({@link followArgv}), `signal` and `remove` are short control execs.
 * Exit codes come from the status channel.
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/ (pods/exec)
 */
export function createKubeExecutor(o: KubeExecutorOptions): Executor {
  const kc = o.kubeConfig;
  const spoolRoot = o.spoolDir ?? '/tmp/rdev';
  const controlTimeoutMs = o.controlTimeoutMs ?? 5000;
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

  // Every exec of this executor (starts, follows, control execs) goes through this runner.
  const exec = createExecRunner({
    kubeConfig: kc,
    namespace: o.namespace,
    container: o.container,
    pods: o.pods,
    logger: o.logger,
    connectTimeoutMs: o.connectTimeoutMs ?? 15_000,
    heartbeatMs: o.heartbeatMs ?? 5000,
    deadAfterMs: o.deadAfterMs ?? 60_000,
  });

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
