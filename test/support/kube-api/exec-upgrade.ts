/**
 * `GET /api/v1/namespaces/{ns}/pods/{name}/exec` upgraded to a WebSocket: the checks the API
 * server and kubelet make before the upgrade, then an {@link ExecSession} over a real process.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { parseExecParams, pickProtocol, startExecSession, type ExecSession } from './exec-session.js';
import { containersRunning, type PodState } from './pod-object.js';
import { POD_MARKER, POD_UID_MARKER, spawnInPod, type PodSandbox } from './pod-processes.js';
import type { PodStore } from './pod-store.js';
import { failureStatus, podNotFound, rejectUpgrade } from './status.js';

/** Host-side facts about a pod that the Pod object does not carry. */
export interface PodRuntime {
  /** Host directory seen as /workspace. */
  workspaceDir: string;
  /** Host directory used as $HOME. */
  homeDir: string;
  sessions: Set<ExecSession>;
}

/** What the exec handler needs from the server. */
export interface ExecContext {
  store: PodStore;
  wss: WebSocketServer;
  sandbox: PodSandbox;
  runtime(pod: PodState): PodRuntime | undefined;
}

const EXEC_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/;

/**
 * Handles an upgrade request. Errors are answered before the upgrade with the status the real
 * server uses: 404 unknown pod, 400 unknown container / bad query / container not running /
 * no supported subprotocol. kubectl then retries over SPDY (a POST), which gets the same answer.
 */
export function handleExecUpgrade(ctx: ExecContext, req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
  const m = EXEC_PATH.exec(url.pathname);
  if (!m) return rejectUpgrade(socket, failureStatus(404, 'the server could not find the requested resource'));
  const namespace = decodeURIComponent(m[1] ?? '');
  const name = decodeURIComponent(m[2] ?? '');
  const pod = ctx.store.get(namespace, name);
  const runtime = pod && ctx.runtime(pod);
  if (!pod || !runtime) return rejectUpgrade(socket, podNotFound(name));
  const params = parseExecParams(url.searchParams);
  if ('status' in params) return rejectUpgrade(socket, params);
  const container = params.container ?? pod.containers[0] ?? '';
  if (!pod.containers.includes(container)) {
    return rejectUpgrade(socket, failureStatus(400, `container ${container} is not valid for pod ${name}`));
  }
  if (!containersRunning(pod)) {
    return rejectUpgrade(socket, failureStatus(400, `unable to upgrade connection: container not found ("${container}")`));
  }
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || !pickProtocol(req.headers['sec-websocket-protocol'])) {
    return rejectUpgrade(socket, failureStatus(400, 'this test server speaks only WebSocket v5.channel.k8s.io and v4.channel.k8s.io'));
  }
  ctx.wss.handleUpgrade(req, socket, head, (ws) => {
    const child = spawnInPod(ctx.sandbox, {
      argv: params.argv,
      workspaceDir: runtime.workspaceDir,
      stdin: params.stdin,
      env: {
        PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: runtime.homeDir,
        HOSTNAME: pod.name,
        ...(params.tty ? { TERM: 'xterm' } : {}),
        ...pod.env,
        [POD_MARKER]: `${pod.namespace}/${pod.name}`,
        [POD_UID_MARKER]: pod.uid,
      },
    });
    const session = startExecSession(ws, child, params, pod.uid);
    runtime.sessions.add(session);
    void session.exited.then(() => runtime.sessions.delete(session));
  });
}
