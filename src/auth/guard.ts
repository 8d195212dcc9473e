import type { AuditLog } from '../audit/audit-log.js';
import { ApiError } from '../errors.js';
import { checkGitArgs, isForcePush } from '../runs/git-policy.js';
import type { RunManager, StartRequest } from '../runs/run-manager.js';
import { isFinal, type Command } from '../runs/types.js';
import type { Identity } from './identity.js';
import { RateLimiter, SubscriptionCounter } from './limits.js';
import { assertAllowed, assertMayRun, assertVisible, ForbiddenError } from './policy.js';

/** What the guard enforces. */
export interface GuardOptions {
  runs: RunManager;
  audit: AuditLog;
  /** Subcommands `runGit` may run. */
  gitSubcommands: ReadonlySet<string>;
  mutationsPerMinute: number;
  subscriptionsPerCaller: number;
  /**
   * How long `cancel` waits for a running command to reach its final status before it answers
   * with the command as it is then.
   * @default the run manager's kill grace (SIGTERM, then SIGKILL) and a second more
   */
  cancelWaitMs?: number | undefined;
  /** The rate limit shared by replicas (PostgreSQL); default: this process's own buckets. */
  rateLimiter?: { take(caller: string, what: string): Promise<void> | void } | undefined;
}

/**
 * The one gate between callers and the run manager, shared by the GraphQL schema and the REST
 * shims: who may run what (roles, projects, kinds, git policy), how often, and the audit record
 * of every accepted and refused command.
 */
export class Guard {
  private readonly rate: { take(caller: string, what: string): Promise<void> | void };
  readonly subscriptions: SubscriptionCounter;

  constructor(private readonly o: GuardOptions) {
    this.rate = o.rateLimiter ?? new RateLimiter(o.mutationsPerMinute);
    this.subscriptions = new SubscriptionCounter(o.subscriptionsPerCaller);
  }

  /** Checks and starts a command for `identity`; every outcome is audited. */
  async run(identity: Identity, request: Omit<StartRequest, 'caller'>, gitArgs?: readonly string[]): Promise<Command> {
    try {
      assertMayRun(identity, request.projectId, request.kind);
      await this.rate.take(identity.name, 'commands');
      if (gitArgs) this.checkGit(identity, gitArgs);
      // Accepted commands are audited by the run manager, before they can run (and end).
      return (await this.o.runs.start({ ...request, caller: identity.name })).command;
    } catch (err) {
      this.refused(identity, request.projectId, request.kind, request.argv, err);
      throw err;
    }
  }

  /** Audits a command refused before it reached {@link Guard.run} (input validation). */
  refused(identity: Identity, projectId: string, kind: StartRequest['kind'], argv: string[], err: unknown): void {
    const code = err instanceof ApiError ? err.code : 'INTERNAL';
    this.o.audit.refused({ caller: identity.name, projectId, kind, argv, code, message: err instanceof Error ? err.message : String(err) });
  }

  /**
   * Cancels a command the caller can see and may cancel, and answers once it is CANCELED (or
   * otherwise final: it may have ended on its own meanwhile). A running command ends when its
   * process group is gone, which the kill grace bounds; past {@link GuardOptions.cancelWaitMs}
   * (a workspace that cannot be reached) the command is returned as it is then, still RUNNING,
   * and its end reaches subscribers later.
   */
  async cancel(identity: Identity, id: string): Promise<Command> {
    const command = await this.o.runs.get(id);
    assertVisible(identity, command.projectId);
    assertAllowed(identity, 'cancel');
    const canceled = await this.o.runs.cancel(id);
    if (isFinal(canceled.status)) return canceled;
    return this.awaitFinal(id, this.o.cancelWaitMs ?? this.o.runs.killGraceMs + 1000);
  }

  /** The command once it is final, or as it is when `waitMs` has passed. */
  private async awaitFinal(id: string, waitMs: number): Promise<Command> {
    const deadline = Date.now() + waitMs;
    const stop = new AbortController();
    const timer = setTimeout(() => stop.abort(), waitMs);
    try {
      // The log's follow ends after the command's CommandCompleted (or when the wait is over).
      // From the last stored event (not after it): a completion stored just now is seen at once.
      const from = Math.max(0, (await this.o.runs.lastSeq(id)) - 1);
      for await (const event of this.o.runs.follow(id, from, stop.signal)) {
        if (event.type === 'completed') break;
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
    }
    // The completion is in the log a moment before the final record is readable everywhere.
    for (;;) {
      const current = await this.o.runs.get(id);
      if (isFinal(current.status) || Date.now() >= deadline) return current;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  private checkGit(identity: Identity, args: readonly string[]): void {
    checkGitArgs(args, this.o.gitSubcommands);
    const sub = args[0]!;
    if (identity.git.subcommands && !identity.git.subcommands.has(sub)) {
      throw new ForbiddenError(`token ${identity.name} may not run git ${sub} (allowed: ${[...identity.git.subcommands].sort().join(', ')})`);
    }
    if (identity.git.forbidForcePush && isForcePush(args)) throw new ForbiddenError(`token ${identity.name} may not force-push or delete remote branches`);
  }
}
