import { describe, expect, it } from 'vitest';
import { createMetrics, type MetricsSources } from '../../src/metrics/metrics.js';
import type { Command } from '../../src/runs/types.js';

/** The samples of a Prometheus text exposition, by series (`name{labels}`, as printed). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

function command(overrides: Partial<Command> = {}): Command {
  return {
    id: 'cmd-alpha-0001abcdef',
    ordinal: 1,
    projectId: 'alpha',
    kind: 'SHELL',
    argv: ['sh', '-c', 'true'],
    workdir: '',
    timeoutSeconds: 600,
    status: 'RUNNING',
    exitCode: null,
    error: null,
    createdAt: new Date(0),
    startedAt: new Date(0),
    finishedAt: null,
    durationMs: null,
    claude: null,
    prunedAt: null,
    ...overrides,
  };
}

const idle: MetricsSources = { counts: () => ({ running: 0, queued: 0 }), sseConnections: () => 0 };

describe('createMetrics', () => {
  it('gives each app its own counters', async () => {
    const a = createMetrics(idle);
    const b = createMetrics(idle);
    a.runs.started(command());
    a.runs.started(command({ kind: 'GIT' }));
    const [ta, tb] = [samples(await a.render()), samples(await b.render())];
    expect([ta.get('rdev_commands_started_total{kind="SHELL"}'), ta.get('rdev_commands_started_total{kind="GIT"}')]).toEqual([1, 1]);
    expect([tb.get('rdev_commands_started_total{kind="SHELL"}'), tb.get('rdev_commands_started_total{kind="GIT"}')]).toEqual([0, 0]);
  });

  it('counts finished commands by kind and status, and times only those that ran', async () => {
    const m = createMetrics(idle);
    m.runs.finished(command({ status: 'SUCCEEDED', exitCode: 0, durationMs: 250 }));
    m.runs.finished(command({ status: 'FAILED', exitCode: 3, durationMs: 2000 }));
    m.runs.finished(command({ status: 'CANCELED', startedAt: null, durationMs: null }));
    const s = samples(await m.render());
    expect({
      succeeded: s.get('rdev_commands_finished_total{kind="SHELL",status="SUCCEEDED"}'),
      failed: s.get('rdev_commands_finished_total{kind="SHELL",status="FAILED"}'),
      canceled: s.get('rdev_commands_finished_total{kind="SHELL",status="CANCELED"}'),
      lostGit: s.get('rdev_commands_finished_total{kind="GIT",status="LOST"}'),
      count: s.get('rdev_command_duration_seconds_count{kind="SHELL"}'),
      sum: s.get('rdev_command_duration_seconds_sum{kind="SHELL"}'),
      underOne: s.get('rdev_command_duration_seconds_bucket{le="1",kind="SHELL"}'),
    }).toEqual({ succeeded: 1, failed: 1, canceled: 1, lostGit: 0, count: 2, sum: 2.25, underOne: 1 });
  });

  it('adds output bytes and first-output latency by kind', async () => {
    const m = createMetrics(idle);
    m.runs.output(command({ kind: 'CLAUDE' }), 100);
    m.runs.output(command({ kind: 'CLAUDE' }), 28);
    m.runs.firstOutput(command({ kind: 'CLAUDE' }), 40);
    const s = samples(await m.render());
    expect({
      bytes: s.get('rdev_command_output_bytes_total{kind="CLAUDE"}'),
      shellBytes: s.get('rdev_command_output_bytes_total{kind="SHELL"}'),
      count: s.get('rdev_command_first_output_seconds_count{kind="CLAUDE"}'),
      sum: s.get('rdev_command_first_output_seconds_sum{kind="CLAUDE"}'),
      under50ms: s.get('rdev_command_first_output_seconds_bucket{le="0.05",kind="CLAUDE"}'),
      under25ms: s.get('rdev_command_first_output_seconds_bucket{le="0.025",kind="CLAUDE"}'),
    }).toEqual({ bytes: 128, shellBytes: 0, count: 1, sum: 0.04, under50ms: 1, under25ms: 0 });
  });

  it('reads running, queued and SSE gauges from their sources at each scrape', async () => {
    let now = { running: 2, queued: 5, sse: 1 };
    const m = createMetrics({ counts: () => ({ running: now.running, queued: now.queued }), sseConnections: () => now.sse });
    const read = async () => {
      const s = samples(await m.render());
      return [s.get('rdev_commands_running'), s.get('rdev_commands_queued'), s.get('rdev_sse_connections_open')];
    };
    expect(await read()).toEqual([2, 5, 1]);
    now = { running: 0, queued: 0, sse: 0 };
    expect(await read()).toEqual([0, 0, 0]);
  });

  it('counts a subscription once however often it is released', async () => {
    const m = createMetrics(idle);
    const first = m.subscriptionOpened();
    const second = m.subscriptionOpened();
    const open = async () => samples(await m.render()).get('rdev_graphql_subscriptions_open');
    expect(await open()).toBe(2);
    first();
    first();
    expect(await open()).toBe(1);
    second();
    expect(await open()).toBe(0);
  });

  it('renders the Prometheus text format with the process metrics', async () => {
    const m = createMetrics(idle);
    const text = await m.render();
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const types = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => `${name} ${type}`);
    expect(types).toEqual(
      expect.arrayContaining([
        'rdev_commands_started_total counter',
        'rdev_commands_finished_total counter',
        'rdev_commands_running gauge',
        'rdev_commands_queued gauge',
        'rdev_command_duration_seconds histogram',
        'rdev_command_first_output_seconds histogram',
        'rdev_command_output_bytes_total counter',
        'rdev_graphql_subscriptions_open gauge',
        'rdev_sse_connections_open gauge',
        'process_cpu_user_seconds_total counter',
        'process_resident_memory_bytes gauge',
        'nodejs_eventloop_lag_seconds gauge',
      ]),
    );
  });
});
