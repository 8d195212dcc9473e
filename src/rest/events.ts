import { assertVisible } from '../auth/policy.js';
import { NotFoundError } from '../errors.js';
import { findProject } from '../projects/find-project.js';
import { SlowSubscriberError } from '../runs/project-events.js';
import { isFinal } from '../runs/types.js';
import { HttpError } from './http.js';
import type { RestContext, RouteRequest } from './router.js';
import { carryBefore, LineRenderer, parseLastEventId } from './sse-lines.js';

/**
 * `GET /projects/{id}/events?stream_id=…`: one command's events from the start (or after
 * `Last-Event-ID`), then live; the stream ends after `complete`, and a reconnect after that is
 * answered 204, which stops an EventSource.
 */
export async function commandEvents(ctx: RestContext, r: RouteRequest): Promise<void> {
  const projectId = r.params.id!;
  assertVisible(ctx.identity, projectId);
  if (!(await findProject(ctx.registry, projectId))) throw new NotFoundError('project', projectId);
  const commandId = r.query.get('stream_id')!;
  const command = await ctx.runs.find(commandId);
  if (!command || command.projectId !== projectId) throw new NotFoundError('command', commandId);

  const header = r.req.headers['last-event-id'];
  const lastEventId = (Array.isArray(header) ? header[0] : header) ?? r.query.get('last_event_id') ?? undefined;
  const resume = lastEventId === undefined ? { seq: 0, line: -1 } : parseLastEventId(lastEventId);
  if (!resume) throw new HttpError('BAD_USER_INPUT', `Last-Event-ID ${JSON.stringify(lastEventId)} is not an id this server sent`);
  if (lastEventId !== undefined && isFinal(command.status) && resume.seq >= (await ctx.runs.lastSeq(commandId))) {
    r.res.writeHead(204).end();
    return;
  }

  const release = ctx.guard.subscriptions.acquire(ctx.identity.name);
  const stream = ctx.streams.open(r.res, ctx.heartbeatMs);
  stream.signal.addEventListener('abort', release, { once: true });
  // A resume inside an event re-reads that event and skips the lines already sent.
  const from = resume.line >= 0 ? resume.seq - 1 : resume.seq;
  const renderer = new LineRenderer({}, await carryBefore((after, limit) => ctx.runs.events(commandId, after, limit), from + 1));
  try {
    for await (const event of ctx.runs.follow(commandId, from, stream.signal)) {
      const skip = event.seq === resume.seq ? resume.line : -1;
      // One write per command event, however many lines it holds (a write per line made the shim several times slower).
      await stream.sendText(renderer.text(event, skip));
    }
  } finally {
    stream.end();
  }
}

/** `GET /projects/{id}/events` without `stream_id`: live events of every command of the project. */
export async function projectEvents(ctx: RestContext, r: RouteRequest): Promise<void> {
  const projectId = r.params.id!;
  assertVisible(ctx.identity, projectId);
  if (!(await findProject(ctx.registry, projectId))) throw new NotFoundError('project', projectId);
  const release = ctx.guard.subscriptions.acquire(ctx.identity.name);
  const stream = ctx.streams.open(r.res, ctx.heartbeatMs);
  stream.signal.addEventListener('abort', release, { once: true });
  const renderers = new Map<string, LineRenderer>();
  try {
    for await (const e of ctx.projectEvents.subscribe(projectId, stream.signal)) {
      if (e.type === 'command-event') {
        let renderer = renderers.get(e.commandId);
        if (!renderer) renderers.set(e.commandId, (renderer = new LineRenderer({ stream_id: e.commandId })));
        if (e.event.type === 'completed') renderers.delete(e.commandId);
        await stream.sendText(renderer.text(e.event, -1, `${e.commandId}/`));
      } else if (e.type === 'command-status' && e.command.status === 'RUNNING') {
        await stream.send('start', { stream_id: e.command.id, type: e.command.kind.toLowerCase(), status: 'running' });
      }
    }
  } catch (err) {
    // A reader too slow for the project's events: say why the stream ends (an EventSource then reconnects).
    if (!(err instanceof SlowSubscriberError)) throw err;
    await stream.send('ended', { code: err.code, message: err.message });
  } finally {
    stream.end();
  }
}
