import type { AuditLog } from '../audit/audit-log.js';
import { ApiError } from '../errors.js';
import { checkGitArgs, isForcePush } from '../runs/git-policy.js';
import type { RunManager, StartRequest } from '../runs/run-manager.js';
import type { Command } from '../runs/types.js';
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
      const { command, reused } = await this.o.runs.start({ ...request, caller: identity.name });
      if (!reused) this.o.audit.accepted({ caller: identity.name, projectId: command.projectId, kind: command.kind, argv: command.argv, commandId: command.id });
      return command;
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

  /** Cancels a command the caller can see and may cancel. */
  async cancel(identity: Identity, id: string): Promise<Command> {
    const command = await this.o.runs.get(id);
    assertVisible(identity, command.projectId);
    assertAllowed(identity, 'cancel');
    return this.o.runs.cancel(id);
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
