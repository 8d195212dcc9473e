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
  it('keeps output up to the limit, then drops the rest and says how much', () => {
    const meter = new OutputMeter(10);
    expect(meter.admit([out('12345'), out('67890'), out('x'), out('yz')])).toEqual([out('12345'), out('67890')]);
    expect(meter.bytes).toBe(13);
    expect(meter.dropped).toBe(3);
    expect(meter.marker()).toMatchObject({ stream: 'STDERR', text: '[rdev] output limit of 10 bytes reached: 3 bytes of output were dropped\n' });
  });
  it('keeps the whole lines of the chunk that crosses the limit, and nothing after', () => {
    const meter = new OutputMeter(10);
    expect(meter.admit([out('ab\ncdé\nfgh\n'), out('i\n')])).toEqual([out('ab\ncdé\n')]);
    expect(meter.dropped).toBe(6);
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
