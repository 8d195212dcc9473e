import { isIP } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_GIT_SUBCOMMANDS } from './runs/git-policy.js';

/** The server's whole configuration, read once from the environment by {@link loadConfig}. */
export interface Config {
  port: number;
  host: string;
  backend: 'local' | 'kube';
  dataDir: string;
  projectsFile: string | undefined;
  kubeconfig: string | undefined;
  namespace: string;
  projectLabel: string;
  container: string;
  workspace: string;
  defaultTimeoutSeconds: number;
  claudeTimeoutSeconds: number;
  claudeIdleTimeoutSeconds: number;
  maxTimeoutSeconds: number;
  maxConcurrentPerProject: number;
  maxConcurrentTotal: number;
  maxQueued: number;
  maxOutputBytes: number;
  maxBodyBytes: number;
  maxQueryDepth: number;
  maxQueryComplexity: number;
  maxSubscriptionsPerToken: number;
  mutationsPerMinute: number;
  tokensFile: string | undefined;
  store: 'sqlite' | 'memory';
  flushMs: number;
  retentionDays: number;
  retentionMaxBytes: number;
  corsOrigins: string[];
  gitSubcommands: string[];
  heartbeatSeconds: number;
  shutdownGraceSeconds: number;
  /** Where supervised commands keep their spool (`<dir>/<command id>/`): in the pod for kube, on this machine for local. */
  spoolDir: string;
  /** At SIGTERM: `detach` leaves commands running for the next server to adopt; `stop` stops them (LOST). */
  onShutdown: 'detach' | 'stop';
  /** How long re-attaching to a running command may keep failing before it is LOST. */
  reattachSeconds: number;
  /** How many recent audit entries the `auditLog` query can read from memory (the file keeps all). */
  auditMemoryEntries: number;
  /** The audit file is rotated before it grows past this (0: never); three rotated files are kept. */
  auditMaxBytes: number;
  /** Events a projectEvents subscriber may have waiting before it is ended (SLOW_SUBSCRIBER). */
  maxSubscriberBacklog: number;
  /** Local backend: variables of the server's environment that commands get besides PATH, HOME, LANG and TERM. */
  commandEnv: readonly string[];
  /** PostgreSQL shared by replicas (`postgres://…`); undefined: SQLite (or memory) in this process. */
  databaseUrl: string | undefined;
  /** How long a start waits for PostgreSQL to answer (it may be starting beside this replica) before it gives up. */
  databaseWaitSeconds: number;
  /** How long a replica's lease on a running command lasts without renewal (renewed every third of it). */
  leaseSeconds: number;
  /** This replica's name in leases and logs (default: the host name). */
  replicaId: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent';
  insecure: boolean;
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
/** A comma-separated list: its items trimmed, empty ones dropped. */
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);
const flag = z.enum(['0', '1', 'true', 'false']).transform((v) => v === '1' || v === 'true');
const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase DNS name');

/** Environment variable → how it is parsed. The variable names are the contract (DESIGN.md). */
const env = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  RDEV_BACKEND: z.enum(['local', 'kube']).optional(),
  RDEV_DATA_DIR: z.string().min(1).default('./.rdev'),
  RDEV_PROJECTS_FILE: z.string().min(1).optional(),
  KUBECONFIG: z.string().optional(),
  KUBERNETES_SERVICE_HOST: z.string().optional(),
  RDEV_NAMESPACE: name.default('rdev'),
  RDEV_PROJECT_LABEL: z
    .string()
    .regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'must be a label key')
    .default('rdev.io/project'),
  RDEV_CONTAINER: name.default('claudebox'),
  RDEV_WORKSPACE: z
    .string()
    .startsWith('/', 'must be an absolute path')
    // Every directory is inside "/": workdir confinement would mean nothing.
    .refine((v) => path.posix.normalize(v) !== '/', 'must not be the root directory: commands are kept inside it')
    .default('/workspace'),
  RDEV_DEFAULT_TIMEOUT_SECONDS: int(1).default(600),
  RDEV_CLAUDE_TIMEOUT_SECONDS: int(1).default(3600),
  RDEV_CLAUDE_IDLE_TIMEOUT_SECONDS: int(0).default(900),
  RDEV_MAX_TIMEOUT_SECONDS: int(1).default(21600),
  RDEV_MAX_CONCURRENT_PER_PROJECT: int(1, 1000).default(4),
  RDEV_MAX_CONCURRENT_TOTAL: int(1, 10_000).default(32),
  RDEV_MAX_QUEUED: int(0).default(100),
  RDEV_MAX_OUTPUT_BYTES: int(1024).default(64 * 1024 * 1024),
  RDEV_MAX_BODY_BYTES: int(1024).default(1024 * 1024),
  RDEV_MAX_QUERY_DEPTH: int(2, 100).default(12),
  RDEV_MAX_QUERY_COMPLEXITY: int(10).default(5000),
  RDEV_MAX_SUBSCRIPTIONS_PER_TOKEN: int(1).default(50),
  RDEV_MUTATIONS_PER_MINUTE: int(0).default(120),
  RDEV_TOKENS_FILE: z.string().min(1).optional(),
  RDEV_STORE: z.enum(['sqlite', 'memory']).default('sqlite'),
  RDEV_FLUSH_MS: int(0, 10_000).default(50),
  RDEV_RETENTION_DAYS: int(0).default(30),
  RDEV_RETENTION_MAX_BYTES: int(0).default(2 * 1024 * 1024 * 1024),
  RDEV_CORS_ORIGINS: commaList
    .pipe(z.array(z.union([z.literal('*'), z.url({ message: 'must be "*" or a comma-separated list of origins such as https://app.example' })])))
    .default([]),
  RDEV_GIT_SUBCOMMANDS: commaList.pipe(z.array(z.string().regex(/^[a-z][a-z-]*$/, 'must be a comma-separated list of git subcommands')).min(1)).optional(),
  RDEV_HEARTBEAT_SECONDS: int(1, 3600).default(15),
  RDEV_SHUTDOWN_GRACE_SECONDS: int(0, 3600).default(10),
  RDEV_SPOOL_DIR: z.string().startsWith('/', 'must be an absolute path').optional(),
  RDEV_ON_SHUTDOWN: z.enum(['detach', 'stop']).default('detach'),
  RDEV_REATTACH_SECONDS: int(1, 86_400).default(120),
  RDEV_AUDIT_MEMORY_ENTRIES: int(0, 1_000_000).default(2000),
  RDEV_AUDIT_MAX_BYTES: int(0).default(100 * 1024 * 1024),
  RDEV_MAX_SUBSCRIBER_BACKLOG: int(1, 1_000_000).default(1000),
  RDEV_COMMAND_ENV: commaList
    .pipe(z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a comma-separated list of environment variable names')))
    .default([]),
  RDEV_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  RDEV_DATABASE_WAIT_SECONDS: int(0, 3600).default(20),
  RDEV_LEASE_SECONDS: int(2, 3600).default(15),
  RDEV_REPLICA_ID: z.string().min(1).max(200).optional(),
  RDEV_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  RDEV_INSECURE: flag.default(false),
});

/** A configuration error: one line naming the variable and what is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Parses and checks `source` (normally `process.env`); throws a {@link ConfigError} on the first problem. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  // An empty variable counts as unset, as shells make that easy to write by accident.
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = env.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0]);
    const value = present[variable];
    throw new ConfigError(`${variable}=${JSON.stringify(value ?? '')}: ${issue.message}`);
  }
  const e = parsed.data;
  if (e.RDEV_DEFAULT_TIMEOUT_SECONDS > e.RDEV_MAX_TIMEOUT_SECONDS) {
    throw new ConfigError(
      `RDEV_DEFAULT_TIMEOUT_SECONDS=${e.RDEV_DEFAULT_TIMEOUT_SECONDS}: must not exceed RDEV_MAX_TIMEOUT_SECONDS (${e.RDEV_MAX_TIMEOUT_SECONDS})`,
    );
  }
  if (e.RDEV_CLAUDE_TIMEOUT_SECONDS > e.RDEV_MAX_TIMEOUT_SECONDS) {
    throw new ConfigError(
      `RDEV_CLAUDE_TIMEOUT_SECONDS=${e.RDEV_CLAUDE_TIMEOUT_SECONDS}: must not exceed RDEV_MAX_TIMEOUT_SECONDS (${e.RDEV_MAX_TIMEOUT_SECONDS})`,
    );
  }
  if (!isLoopback(e.HOST) && !e.RDEV_INSECURE && !e.RDEV_TOKENS_FILE) {
    throw new ConfigError(
      `HOST=${e.HOST}: refusing to listen beyond loopback without authentication; set RDEV_TOKENS_FILE, ` +
        `or RDEV_INSECURE=1 to accept that anyone who reaches the port can run commands`,
    );
  }
  const backend = e.RDEV_BACKEND ?? (e.KUBERNETES_SERVICE_HOST ? 'kube' : 'local');
  const dataDir = path.resolve(e.RDEV_DATA_DIR);
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    backend,
    dataDir,
    projectsFile: e.RDEV_PROJECTS_FILE,
    kubeconfig: e.KUBECONFIG || undefined,
    namespace: e.RDEV_NAMESPACE,
    projectLabel: e.RDEV_PROJECT_LABEL,
    container: e.RDEV_CONTAINER,
    workspace: e.RDEV_WORKSPACE,
    defaultTimeoutSeconds: e.RDEV_DEFAULT_TIMEOUT_SECONDS,
    claudeTimeoutSeconds: e.RDEV_CLAUDE_TIMEOUT_SECONDS,
    claudeIdleTimeoutSeconds: e.RDEV_CLAUDE_IDLE_TIMEOUT_SECONDS,
    maxTimeoutSeconds: e.RDEV_MAX_TIMEOUT_SECONDS,
    maxConcurrentPerProject: e.RDEV_MAX_CONCURRENT_PER_PROJECT,
    maxConcurrentTotal: e.RDEV_MAX_CONCURRENT_TOTAL,
    maxQueued: e.RDEV_MAX_QUEUED,
    maxOutputBytes: e.RDEV_MAX_OUTPUT_BYTES,
    maxBodyBytes: e.RDEV_MAX_BODY_BYTES,
    maxQueryDepth: e.RDEV_MAX_QUERY_DEPTH,
    maxQueryComplexity: e.RDEV_MAX_QUERY_COMPLEXITY,
    maxSubscriptionsPerToken: e.RDEV_MAX_SUBSCRIPTIONS_PER_TOKEN,
    mutationsPerMinute: e.RDEV_MUTATIONS_PER_MINUTE,
    tokensFile: e.RDEV_TOKENS_FILE,
    store: e.RDEV_STORE,
    flushMs: e.RDEV_FLUSH_MS,
    retentionDays: e.RDEV_RETENTION_DAYS,
    retentionMaxBytes: e.RDEV_RETENTION_MAX_BYTES,
    corsOrigins: e.RDEV_CORS_ORIGINS,
    gitSubcommands: e.RDEV_GIT_SUBCOMMANDS ?? [...DEFAULT_GIT_SUBCOMMANDS],
    heartbeatSeconds: e.RDEV_HEARTBEAT_SECONDS,
    shutdownGraceSeconds: e.RDEV_SHUTDOWN_GRACE_SECONDS,
    spoolDir: e.RDEV_SPOOL_DIR ?? (backend === 'kube' ? '/tmp/rdev' : path.join(dataDir, 'spool')),
    onShutdown: e.RDEV_ON_SHUTDOWN,
    reattachSeconds: e.RDEV_REATTACH_SECONDS,
    auditMemoryEntries: e.RDEV_AUDIT_MEMORY_ENTRIES,
    auditMaxBytes: e.RDEV_AUDIT_MAX_BYTES,
    maxSubscriberBacklog: e.RDEV_MAX_SUBSCRIBER_BACKLOG,
    commandEnv: e.RDEV_COMMAND_ENV,
    databaseUrl: e.RDEV_DATABASE_URL,
    databaseWaitSeconds: e.RDEV_DATABASE_WAIT_SECONDS,
    leaseSeconds: e.RDEV_LEASE_SECONDS,
    replicaId: e.RDEV_REPLICA_ID ?? hostname(),
    logLevel: e.RDEV_LOG_LEVEL,
    insecure: e.RDEV_INSECURE,
  });
}
