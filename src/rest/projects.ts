import type { Project } from '../projects/registry.js';
import { claudeArgv, gitArgv, shellArgv } from '../runs/command-builders.js';
import type { Command, CommandKind } from '../runs/types.js';
import type { StartRequest } from '../runs/run-manager.js';
import { canSeeProject } from '../auth/identity.js';
import { assertVisible } from '../auth/policy.js';
import { NotFoundError } from '../errors.js';
import { claudeBody, gitBody, inRestTerms, parseBody, shellBody } from './bodies.js';
import { readJsonObject, sendData } from './http.js';
import { lowerCase, type RestCommand, type RestProject } from './schemas.js';
import type { RestContext, RouteRequest } from './router.js';

/** A project as the seed's clients read it (snake_case, lowercase status). */
export function projectJson(p: Project): RestProject {
  return { id: p.id, status: lowerCase(p.status), status_message: p.statusMessage, pod: p.pod, workspace: p.workspace };
}

/** A started command as the seed's `POST /projects/{id}/…` answered it. */
export function commandJson(c: Command): RestCommand {
  return {
    id: c.id,
    project: c.projectId,
    type: lowerCase(c.kind),
    status: lowerCase(c.status),
    argv: c.argv,
    created_at: c.createdAt.toISOString(),
    stream_url: `/projects/${encodeURIComponent(c.projectId)}/events?stream_id=${encodeURIComponent(c.id)}`,
  };
}

export function listProjects(ctx: RestContext, r: RouteRequest): void {
  sendData(
    r.res,
    200,
    ctx.registry
      .list()
      .filter((p) => canSeeProject(ctx.identity, p.id))
      .map(projectJson),
    r.requestId,
  );
}

export function getProject(ctx: RestContext, r: RouteRequest): void {
  assertVisible(ctx.identity, r.params.id!);
  const project = ctx.registry.get(r.params.id!);
  if (!project) throw new NotFoundError('project', r.params.id!);
  sendData(r.res, 200, projectJson(project), r.requestId);
}

/** `POST /projects/{id}/claude|shell|git` → 202 with the command. Refusals are audited by the guard. */
export async function runCommand(ctx: RestContext, r: RouteRequest, kind: CommandKind): Promise<void> {
  const projectId = r.params.id!;
  let body: Record<string, unknown> = {};
  let request: Omit<StartRequest, 'caller'>;
  let gitArgs: string[] | undefined;
  try {
    body = await readJsonObject(r.req, ctx.maxBodyBytes);
    request = toStartRequest(projectId, kind, body);
    if (kind === 'GIT') gitArgs = request.argv.slice(1);
  } catch (err) {
    ctx.guard.refused(ctx.identity, projectId, kind, guessArgv(kind, body), err);
    throw err;
  }
  // The run manager speaks the GraphQL input's names; a REST client sent `timeout_seconds`.
  const command = await ctx.guard.run(ctx.identity, request, gitArgs).catch((err: unknown) => {
    throw inRestTerms(err);
  });
  sendData(r.res, 202, commandJson(command), r.requestId);
}

function toStartRequest(projectId: string, kind: CommandKind, body: Record<string, unknown>): Omit<StartRequest, 'caller'> {
  const base = { projectId, kind };
  if (kind === 'SHELL') {
    const b = parseBody(shellBody, body);
    return { ...base, argv: shellArgv(b.command), workdir: b.workdir, timeoutSeconds: b.timeout_seconds, idempotencyKey: b.idempotency_key };
  }
  if (kind === 'GIT') {
    const b = parseBody(gitBody, body);
    return { ...base, argv: gitArgv(b.args), timeoutSeconds: b.timeout_seconds, idempotencyKey: b.idempotency_key };
  }
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
  return { ...base, argv, timeoutSeconds: b.timeout_seconds, idempotencyKey: b.idempotency_key };
}

/** What a refused body asked to run, as far as it can be read, for the audit log. */
function guessArgv(kind: CommandKind, body: Record<string, unknown>): string[] {
  if (kind === 'SHELL') return ['sh', '-c', typeof body.command === 'string' ? body.command : ''];
  if (kind === 'GIT') return ['git', ...(Array.isArray(body.args) ? body.args.map(String) : [])];
  return ['claude'];
}
