import type { Project } from '../projects/registry.js';
import { claudeArgv, gitArgv, shellArgv } from '../runs/command-builders.js';
import type { Command, CommandKind } from '../runs/types.js';
import { NotFoundError } from '../errors.js';
import { claudeBody, gitBody, parseBody, shellBody } from './bodies.js';
import { readJsonObject, sendData } from './http.js';
import type { RestContext, RouteRequest } from './router.js';

/** A project as the seed's clients read it (snake_case, lowercase status). */
export function projectJson(p: Project): Record<string, unknown> {
  return { id: p.id, status: p.status.toLowerCase(), status_message: p.statusMessage, pod: p.pod, workspace: p.workspace };
}

/** A started command as the seed's `POST /projects/{id}/…` answered it. */
export function commandJson(c: Command): Record<string, unknown> {
  return {
    id: c.id,
    project: c.projectId,
    type: c.kind.toLowerCase(),
    status: c.status.toLowerCase(),
    argv: c.argv,
    created_at: c.createdAt.toISOString(),
    stream_url: `/projects/${encodeURIComponent(c.projectId)}/events?stream_id=${encodeURIComponent(c.id)}`,
  };
}

export function listProjects(ctx: RestContext, r: RouteRequest): void {
  sendData(r.res, 200, ctx.registry.list().map(projectJson), r.requestId);
}

export function getProject(ctx: RestContext, r: RouteRequest): void {
  const project = ctx.registry.get(r.params.id!);
  if (!project) throw new NotFoundError('project', r.params.id!);
  sendData(r.res, 200, projectJson(project), r.requestId);
}

/** `POST /projects/{id}/claude|shell|git` → 202 with the command. */
export async function runCommand(ctx: RestContext, r: RouteRequest, kind: CommandKind): Promise<void> {
  const body = await readJsonObject(r.req, ctx.maxBodyBytes);
  const projectId = r.params.id!;
  const base = { projectId, kind, caller: ctx.caller };
  let command: Command;
  if (kind === 'SHELL') {
    const b = parseBody(shellBody, body);
    command = ctx.runs.start({ ...base, argv: shellArgv(b.command), workdir: b.workdir, timeoutSeconds: b.timeout_seconds, idempotencyKey: b.idempotency_key });
  } else if (kind === 'GIT') {
    const b = parseBody(gitBody, body);
    command = ctx.runs.start({ ...base, argv: gitArgv(b.args), timeoutSeconds: b.timeout_seconds, idempotencyKey: b.idempotency_key });
  } else {
    const b = parseBody(claudeBody, body);
    const argv = claudeArgv({
      prompt: b.prompt,
      sessionId: b.session_id,
      continueSession: b.continue_session,
      model: b.model,
      allowedTools: b.allowed_tools,
      maxTurns: b.max_turns,
      permissionMode: b.permission_mode,
    });
    command = ctx.runs.start({ ...base, argv, timeoutSeconds: b.timeout_seconds, idempotencyKey: b.idempotency_key });
  }
  sendData(r.res, 202, commandJson(command), r.requestId);
}
