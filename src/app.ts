import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { createAuditLog } from './audit/audit-log.js';
import { Guard } from './auth/guard.js';
import { loadTokens, type TokenSet } from './auth/tokens.js';
import { admit, type GateOptions } from './http/gate.js';
import { createGraphiQL, GRAPHIQL_ASSETS_PATH } from './http/graphiql.js';
import { useQueryLimits } from './schema/query-limits.js';
import { useStrictRequest } from './schema/use-strict-request.js';
import { useGraphQLSSE } from '@graphql-yoga/plugin-graphql-sse';
import { createYoga } from 'graphql-yoga';
import { createBackend } from './backend.js';
import type { Config } from './config.js';
import type { Executor } from './exec/executor.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics/metrics.js';
import { serveMetrics } from './metrics/serve-metrics.js';
import { useSubscriptionMetrics } from './metrics/use-subscription-metrics.js';
import type { ProjectRegistry } from './projects/registry.js';
import { handleRest, isRestPath, type RestContext } from './rest/router.js';
import { createSseStreams } from './rest/sse.js';
import type { CommandStore } from './runs/command-store.js';
import type { EventLog } from './runs/event-log.js';
import { openHistory } from './history.js';
import { createProjectEvents } from './runs/project-events.js';
import { RunManager } from './runs/run-manager.js';
import { contextOf, type Context, type ServerContext } from './schema/context.js';
import { GRAPHIQL_DEFAULT_QUERY } from './schema/graphiql.js';
import { schema } from './schema/index.js';
import { useInputErrorCodes } from './schema/use-input-error-codes.js';
import { useSharedSubscriptionResults } from './schema/use-shared-subscription-results.js';
import { useSubscriptionErrorData } from './schema/use-subscription-error-data.js';

/** Parts a caller (a test, the kube wiring) may supply instead of the defaults built from config. */
export interface AppDeps {
  registry?: ProjectRegistry;
  executor?: Executor;
  log?: EventLog;
  store?: CommandStore;
  logger?: Logger;
  /** Output coalescing window in ms. */
  coalesceMs?: number;
}

/** A built app: a request handler for `node:http`, and `close()` to stop everything it started. */
export interface App {
  handle(req: IncomingMessage, res: ServerResponse): void;
  runs: RunManager;
  registry: ProjectRegistry;
  logger: Logger;
  /** Stops new commands, waits (bounded) for running ones, ends every stream, releases the backend. */
  close(): Promise<void>;
}

/**
 * Wires registry + executor + runs + schema + REST into one request handler; never listens.
 * Resolves once the history is open and what a previous server left is adopted.
 */
export async function createApp(config: Readonly<Config>, deps: AppDeps = {}): Promise<App> {
  const root = deps.logger ?? createLogger(config.logLevel);
  // Replicas: every line says which replica did it.
  const logger = config.databaseUrl ? root.child({ replica: config.replicaId }) : root;
  const tokens = loadTokensOf(config);
  const history = await openHistory(config, logger, deps);
  const cluster = history.cluster;
  const audit =
    cluster?.audit ??
    createAuditLog({
      file: path.join(config.dataDir, 'audit.log'),
      memoryEntries: config.auditMemoryEntries,
      maxBytes: config.auditMaxBytes,
      onError: (err) => logger.error('audit: could not write to audit.log', { err: String(err) }),
    });
  const { registry, executor } = await createBackend(config, logger, deps);
  const projectEvents = createProjectEvents({ maxQueued: config.maxSubscriberBacklog });
  const streams = createSseStreams();
  // Read at scrape time; `runs` is built just below.
  const metrics = createMetrics({ counts: () => runs.counts(), sseConnections: () => streams.count() });
  cluster?.registerMetrics(metrics.registry);
  // Another replica's events of a project are read here only while someone here follows that project.
  cluster?.store.log.setInterest((_, projectId) => projectEvents.subscriberCount(projectId) > 0);
  const runs = new RunManager({
    registry,
    executor,
    log: history.log,
    store: history.commands,
    idempotency: history.idempotency,
    projectEvents,
    limits: config,
    logger,
    audit,
    coalesceMs: deps.coalesceMs,
    metrics: metrics.runs,
    coordinator: cluster && ((hooks) => cluster.coordinator(hooks)),
  });
  const adopted = await runs.adopt();
  if (adopted.running + adopted.queued > 0) logger.info('adopted the commands of the previous server', adopted);
  const guard = new Guard({
    runs,
    audit,
    gitSubcommands: new Set(config.gitSubcommands),
    mutationsPerMinute: config.mutationsPerMinute,
    subscriptionsPerCaller: config.maxSubscriptionsPerToken,
    rateLimiter: cluster?.rateLimiter,
  });
  const gate: GateOptions = { tokens, corsOrigins: config.corsOrigins, maxBodyBytes: config.maxBodyBytes, logger };
  const unwatch = registry.onChange((project) => projectEvents.publish({ type: 'project-status', projectId: project.id, project }));
  const requests = openRequests();
  const graphiql = createGraphiQL();

  const yoga = createYoga<ServerContext & { req: IncomingMessage }, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/yoga-health',
    landingPage: false,
    // The gate does both, for every route: CORS only for RDEV_CORS_ORIGINS (Yoga's default answers any origin), and the
    // body limit (a POST needs a Content-Length within RDEV_MAX_BODY_BYTES; Node reads no more than it says). Yoga's
    // limit piped every body through a TransformStream, a tenth of a bare Yoga's time per request.
    cors: false,
    maxRequestBodySize: false,
    graphiql: { title: 'rdev-api', defaultQuery: GRAPHIQL_DEFAULT_QUERY, subscriptionsProtocol: 'SSE' },
    renderGraphiQL: (options) => graphiql.render(options),
    context: ({ request, identity, signal }) => contextOf({ runs, registry, projectEvents, logger, guard, audit }, { identity, signal }, request.signal),
    plugins: [
      useSharedSubscriptionResults((ctx) => (ctx as Context).identity.name),
      useSubscriptionMetrics(() => metrics.subscriptionOpened()),
      useStrictRequest(),
      useQueryLimits({ maxDepth: config.maxQueryDepth, maxComplexity: config.maxQueryComplexity, projectCount: () => registry.list().length }),
      useInputErrorCodes(),
      useSubscriptionErrorData(),
      useGraphQLSSE({ endpoint: '/graphql/stream' }),
    ],
    logging: {
      debug: (...args) => logger.debug(String(args[0]), { args: args.slice(1).map(String) }),
      info: (...args) => logger.info(String(args[0]), { args: args.slice(1).map(String) }),
      warn: (...args) => logger.warn(String(args[0]), { args: args.slice(1).map(String) }),
      error: (...args) => logger.error(String(args[0]), { args: args.slice(1).map((a) => String((a as Error)?.stack ?? a)) }),
    },
  });

  const rest: Omit<RestContext, 'identity'> = {
    runs,
    registry,
    projectEvents,
    logger,
    streams,
    guard,
    maxBodyBytes: config.maxBodyBytes,
    heartbeatMs: config.heartbeatSeconds * 1000,
    storeReadiness: cluster?.readiness,
  };

  return {
    runs,
    registry,
    logger,
    handle(req, res) {
      const admitted = admit(gate, req, res);
      if (!admitted) return;
      if (admitted.url.pathname === '/metrics') void serveMetrics(metrics, logger, req, res);
      else if (admitted.url.pathname.startsWith(GRAPHIQL_ASSETS_PATH)) void graphiql.serveAsset(req, res, admitted.url.pathname);
      else if (isRestPath(admitted.url.pathname)) void handleRest({ ...rest, identity: admitted.identity }, req, res, admitted.url);
      else {
        void yoga(req, res, { req, identity: admitted.identity, signal: requests.signal(res) });
      }
    },
    async close() {
      await runs.shutdown(config.shutdownGraceSeconds * 1000);
      await audit.close?.();
      requests.abortAll();
      streams.closeAll();
      unwatch();
      await history.close();
      await registry.close();
      await executor.close();
      await yoga.dispose();
    },
  };
}

/** The tokens of RDEV_TOKENS_FILE (null: authentication off); a bad file names the variable. */
function loadTokensOf(config: Readonly<Config>): TokenSet | null {
  if (!config.tokensFile) return null;
  try {
    return loadTokens(config.tokensFile);
  } catch (err) {
    throw new Error(`RDEV_TOKENS_FILE=${config.tokensFile}: ${(err as Error).message}`);
  }
}

/**
 * The GraphQL requests in flight, each with a signal that aborts when its client leaves before the response is finished,
 * or at shutdown ({@link abortAll}). A response that finishes normally aborts nothing (graphql-sse's single-connection
 * mode answers the operation's POST with 202 while the operation goes on). A set, not a listener per request on one
 * shutdown signal: cheaper per request, and no MaxListenersExceededWarning.
 */
function openRequests(): { signal(res: ServerResponse): AbortSignal; abortAll(): void } {
  const open = new Set<AbortController>();
  let stopped = false;
  return {
    signal(res) {
      const controller = new AbortController();
      if (stopped) controller.abort();
      else open.add(controller);
      res.once('close', () => {
        open.delete(controller);
        if (!res.writableFinished) controller.abort();
      });
      return controller.signal;
    },
    abortAll() {
      stopped = true;
      for (const controller of open) controller.abort();
      open.clear();
    },
  };
}
