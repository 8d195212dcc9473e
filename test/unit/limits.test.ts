import { createHash } from 'node:crypto';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { RateLimiter, SubscriptionCounter } from '../../src/auth/limits.js';
import { OutputMeter } from '../../src/runs/output-meter.js';
import { schema } from '../../src/schema/index.js';
import { queryLimitsRule } from '../../src/schema/query-limits.js';

describe('RateLimiter', () => {
  it('allows perMinute at once, then refills over time', () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    limiter.take('a', 'commands');
    limiter.take('a', 'commands');
    expect(() => limiter.take('a', 'commands')).toThrow(/at most 2 a minute for a; try again in 30s/);
    limiter.take('b', 'commands'); // per caller
    now = 30_000;
    expect(() => limiter.take('a', 'commands')).not.toThrow();
  });
});

describe('SubscriptionCounter', () => {
  it('counts per caller and releases once', () => {
    const counter = new SubscriptionCounter(1);
    const release = counter.acquire('a');
    expect(() => counter.acquire('a')).toThrow(/too many open subscriptions/);
    release();
    release();
    expect(counter.total()).toBe(0);
    expect(() => counter.acquire('a')).not.toThrow();
  });
});

describe('OutputMeter', () => {
  const out = (text: string) => ({ type: 'output' as const, stream: 'STDOUT' as const, text, at: new Date(0) });
  const message = (text: string) => ({ type: 'claude' as const, messageType: 'assistant', subtype: null, text, toolName: null, message: { type: 'assistant' }, at: new Date(0) });
  it('keeps output up to the limit, then drops the rest and says how much', () => {
    const meter = new OutputMeter(10);
    expect(meter.admit([out('12345'), out('67890'), out('x'), out('yz')])).toEqual([out('12345'), out('67890')]);
    expect(meter.dropped).toBe(3);
    expect(meter.marker()).toMatchObject({ stream: 'STDERR', text: '[rdev] output limit of 10 bytes reached: 3 bytes of output were dropped\n' });
  });
  it('keeps the whole lines of the chunk that crosses the limit, and nothing after', () => {
    const meter = new OutputMeter(10);
    expect(meter.admit([out('ab\ncdé\nfgh\n'), out('i\n')])).toEqual([out('ab\ncdé\n')]);
    expect(meter.dropped).toBe(6);
  });
  it('counts a Claude message by the bytes of the line it came from: kept while it fits, then dropped with everything after', () => {
    const meter = new OutputMeter(100);
    expect(meter.admitMessage(message('a'), 60)).toEqual([message('a')]);
    expect(meter.admitMessage(message('b'), 50)).toEqual([]);
    // Past the limit nothing more goes in, not even what would fit: the log keeps a prefix without gaps.
    expect(meter.admit([out('x\n')])).toEqual([]);
    expect(meter.admitMessage(message('c'), 10)).toEqual([]);
    expect(meter.dropped).toBe(62);
    expect(meter.marker()).toMatchObject({ text: '[rdev] output limit of 100 bytes reached: 62 bytes of output were dropped\n' });
  });
  it('shares the limit between output and messages', () => {
    const meter = new OutputMeter(10);
    expect(meter.admit([out('12345\n')])).toEqual([out('12345\n')]);
    expect(meter.admitMessage(message('m'), 5)).toEqual([]);
    expect(meter.dropped).toBe(5);
  });
  it('counts and hashes the raw bytes it reads, whatever they become (invalid UTF-8 and Claude lines included)', () => {
    const meter = new OutputMeter(4);
    const chunks = [Buffer.from('{"type":"system"}\n'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('tail')];
    for (const c of chunks) meter.read(c);
    expect(meter.bytes).toBe(18 + 3 + 4);
    expect(meter.digest()).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
    // What is admitted or dropped changes neither.
    meter.admit([out('0123456789')]);
    expect(meter.bytes).toBe(25);
  });
});

describe('query limits', () => {
  const errors = (query: string, maxDepth = 5, maxComplexity = 1000) =>
    validate(schema, parse(query), [queryLimitsRule({ maxDepth, maxComplexity })]).map((e) => [e.extensions.code, e.message]);

  it('accepts an ordinary query', () => {
    expect(errors('{ projects { id commands(first: 5) { edges { node { id status } } } } }')).toEqual([]);
  });
  it('refuses a query nested too deep, through fragments too', () => {
    const deep = '{ commands { edges { node { project { commands { edges { node { id } } } } } } } }';
    expect(errors(deep)[0]![0]).toBe('QUERY_TOO_COMPLEX');
    const viaFragment = 'query { ...A } fragment A on Query { commands { edges { node { project { commands { edges { node { id } } } } } } } }';
    expect(errors(viaFragment)[0]![0]).toBe('QUERY_TOO_COMPLEX');
  });
  it('refuses a query whose lists multiply past the limit', () => {
    const wide = '{ commands(first: 100) { edges { node { id argv status project { id workspace } output { seq text } } } } }';
    expect(errors(wide, 12, 200)).toEqual([['QUERY_TOO_COMPLEX', expect.stringMatching(/would cost about \d+ fields, more than the 200 allowed/)]]);
  });
});
