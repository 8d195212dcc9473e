import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunMetrics } from '../runs/finish-command.js';
import { FINAL_STATUSES, type CommandKind } from '../runs/types.js';

/** What the metrics read at scrape time instead of keeping a count of their own (so they cannot drift). */
export interface MetricsSources {
  /** Commands running now, and waiting for a slot. */
  counts(): { running: number; queued: number } | Promise<{ running: number; queued: number }>;
  /** REST Server-Sent Events streams (`/projects/{id}/events`) open now. */
  sseConnections(): number;
}

/** One app's metrics: its own registry, so that two apps in one process never share a counter. */
export interface AppMetrics {
  readonly registry: Registry;
  /** The hooks the run manager calls. */
  readonly runs: RunMetrics;
  /** Counts one open GraphQL subscription; returns its release, which may be called more than once. */
  subscriptionOpened(): () => void;
  /** The `Content-Type` of {@link AppMetrics.render}'s text. */
  readonly contentType: string;
  /** Every metric in the Prometheus text exposition format (version 0.0.4). */
  render(): Promise<string>;
}

/** Command durations run from under a second to hours (the most a command may ask for is 6 h). */
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];
/** From a local spawn (milliseconds) to a pod exec over a slow API server (seconds). */
const FIRST_OUTPUT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const KINDS: readonly CommandKind[] = ['CLAUDE', 'SHELL', 'GIT'];

/**
 * Creates the metrics of one app. The names, all prefixed `rdev_`, carry no project, caller or
 * command in their labels: `/metrics` is open, and such labels would grow without bound.
 *
 * The process metrics of prom-client (`process_*`, `nodejs_*`) are registered at the first
 * {@link AppMetrics.render}: prom-client's event-loop monitor and GC observer cannot be stopped
 * again, so an app that is never scraped (a test's, most of the time) never starts them.
 *
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 */
export function createMetrics(sources: MetricsSources): AppMetrics {
  const registry = new Registry();
  const registers = [registry];

  const started = new Counter({ name: 'rdev_commands_started_total', help: 'Commands that went RUNNING, by kind.', labelNames: ['kind'], registers });
  const finished = new Counter({
    name: 'rdev_commands_finished_total',
    help: 'Commands that reached a final status, by kind and status (queued commands canceled or lost included).',
    labelNames: ['kind', 'status'],
    registers,
  });
  new Gauge({
    name: 'rdev_commands_running',
    help: 'Commands running now.',
    registers,
    async collect() {
      this.set((await sources.counts()).running);
    },
  });
  new Gauge({
    name: 'rdev_commands_queued',
    help: 'Commands waiting for a concurrency slot now.',
    registers,
    async collect() {
      this.set((await sources.counts()).queued);
    },
  });
  const duration = new Histogram({
    name: 'rdev_command_duration_seconds',
    help: 'Wall time of a command from RUNNING to its final status, by kind.',
    labelNames: ['kind'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const firstOutput = new Histogram({
    name: 'rdev_command_first_output_seconds',
    help: 'Exec start latency as seen from outside the executor: from RUNNING to the first output byte, by kind (commands that write nothing are not counted).',
    labelNames: ['kind'],
    buckets: FIRST_OUTPUT_BUCKETS,
    registers,
  });
  const outputBytes = new Counter({
    name: 'rdev_command_output_bytes_total',
    help: 'Output bytes the executors delivered (stdout and stderr, before the per-command cap), by kind.',
    labelNames: ['kind'],
    registers,
  });
  const subscriptions = new Gauge({
    name: 'rdev_graphql_subscriptions_open',
    help: 'GraphQL subscriptions open now (/graphql and /graphql/stream).',
    registers,
  });
  new Gauge({
    name: 'rdev_sse_connections_open',
    help: 'REST Server-Sent Events streams (/projects/{id}/events) open now.',
    registers,
    collect() {
      this.set(sources.sseConnections());
    },
  });

  // Every series exists from the start at 0, so that rate() and increase() see the first command.
  for (const kind of KINDS) {
    started.inc({ kind }, 0);
    outputBytes.inc({ kind }, 0);
    for (const status of FINAL_STATUSES) finished.inc({ kind, status }, 0);
  }

  let processMetrics = false;
  return {
    registry,
    runs: {
      started: (command) => started.inc({ kind: command.kind }),
      finished(command) {
        finished.inc({ kind: command.kind, status: command.status });
        // A queued command that never ran has no duration worth a bucket.
        if (command.startedAt && command.durationMs !== null) duration.observe({ kind: command.kind }, command.durationMs / 1000);
      },
      output: (command, bytes) => outputBytes.inc({ kind: command.kind }, bytes),
      firstOutput: (command, ms) => firstOutput.observe({ kind: command.kind }, ms / 1000),
    },
    subscriptionOpened() {
      subscriptions.inc();
      let open = true;
      return () => {
        if (!open) return;
        open = false;
        subscriptions.dec();
      };
    },
    contentType: registry.contentType,
    async render() {
      if (!processMetrics) {
        processMetrics = true;
        collectDefaultMetrics({ register: registry });
      }
      return registry.metrics();
    },
  };
}
