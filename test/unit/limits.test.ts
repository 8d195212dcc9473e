import { createHash } from 'node:crypto';
import { getNamedType, isCompositeType, isListType, isNonNullType, isObjectType, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { RateLimiter, SubscriptionCounter } from '../../src/auth/limits.js';
import { OutputMeter } from '../../src/runs/output-meter.js';
import { schema } from '../../src/schema/index.js';
import { costError, queryCost, queryShapeRule } from '../../src/schema/query-limits.js';

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
  const message = (text: string) => ({
    type: 'claude' as const,
    messageType: 'assistant',
    subtype: null,
    text,
    toolName: null,
    message: { type: 'assistant' },
    at: new Date(0),
  });
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
    const meter = new OutputMeter(100);
    const chunks = [Buffer.from('{"type":"system"}\n'), Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('tail')];
    for (const c of chunks) meter.read('STDOUT', c);
    expect(meter.bytes).toBe(18 + 3 + 4);
    expect(meter.digest()).toBe(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
    // What is admitted or dropped changes neither.
    meter.admit([out('0123456789')]);
    expect(meter.bytes).toBe(25);
  });
  it('resumes from a stored position below the cap: the count, the offsets and the room go on from there; no digest', () => {
    const meter = new OutputMeter(10, { pgid: null, stdout: 4, stderr: 2, logged: 6 });
    expect(meter.admit([out('abc\n'), out('z\n')])).toEqual([out('abc\n')]);
    meter.read('STDOUT', Buffer.from('abc\nz\n'));
    expect({ bytes: meter.bytes, kept: meter.kept, dropped: meter.dropped, digest: meter.digest() }).toEqual({ bytes: 12, kept: 10, dropped: 2, digest: null });
  });
  it('resumes from a stored position past the cap: nothing more is logged, and the marker counts what was dropped before', () => {
    const meter = new OutputMeter(10, { pgid: null, stdout: 12, stderr: 0, logged: 9 });
    expect(meter.admit([out('x\n')])).toEqual([]);
    expect(meter.marker()).toMatchObject({ text: '[rdev] output limit of 10 bytes reached: 5 bytes of output were dropped\n' });
  });
  it('resumes a position stored before the logged count was: all of it logged, up to the cap', () => {
    expect(new OutputMeter(10, { pgid: null, stdout: 6, stderr: 0 }).kept).toBe(6);
    const past = new OutputMeter(10, { pgid: null, stdout: 8, stderr: 7 });
    expect({ kept: past.kept, dropped: past.dropped }).toEqual({ kept: 10, dropped: 5 });
  });
  it('counts every byte but hashes only those of each stream below the bound (past it the spool may read back as zeros)', () => {
    const meter = new OutputMeter(8);
    meter.read('STDOUT', Buffer.from('0123'));
    meter.read('STDERR', Buffer.from('abcdef'));
    meter.read('STDOUT', Buffer.from('456789'));
    meter.read('STDERR', Buffer.from('ghij'));
    meter.read('STDOUT', Buffer.from('\0\0\0'));
    expect(meter.bytes).toBe(23);
    expect(meter.digest()).toBe(createHash('sha256').update('0123abcdef4567gh').digest('hex'));
  });
});

describe('query shape', () => {
  const errors = (query: string, maxDepth = 5, maxFields = 1000) =>
    validate(schema, parse(query), [queryShapeRule({ maxDepth, maxFields })]).map((e) => [e.extensions.code, e.message]);

  it('accepts an ordinary query', () => {
    expect(errors('{ projects { id commands(first: 5) { edges { node { id status } } } } }')).toEqual([]);
  });
  it('refuses a query nested too deep, through fragments too', () => {
    const deep = '{ commands { edges { node { project { commands { edges { node { id } } } } } } } }';
    expect(errors(deep)[0]![0]).toBe('QUERY_TOO_COMPLEX');
    const viaFragment = 'query { ...A } fragment A on Query { commands { edges { node { project { commands { edges { node { id } } } } } } } }';
    expect(errors(viaFragment)[0]![0]).toBe('QUERY_TOO_COMPLEX');
  });
  it('refuses more fields than the cost limit, fragments expanded, before graphql gives up on them', () => {
    expect(errors(`{ projects { ${'id '.repeat(5_000)}} }`, 12, 5000)).toEqual([
      ['QUERY_TOO_COMPLEX', 'the query would cost more than 5000 fields, the most allowed (RDEV_MAX_QUERY_COMPLEXITY); ask for fewer items or fields'],
    ]);
    expect(errors(`{ ${'...P '.repeat(26)}} fragment P on Query { projects { id status workspace } }`, 12, 100)[0]![0]).toBe('QUERY_TOO_COMPLEX');
    expect(errors(`{ ${'...P '.repeat(25)}} fragment P on Query { projects { id status workspace } }`, 12, 100)).toEqual([]);
  });
});

describe('query cost', () => {
  const cost = (query: string, variables?: Record<string, unknown>, projects = 3) => queryCost(schema, parse(query), variables, undefined, { projects });
  /** At the default limit (RDEV_MAX_QUERY_COMPLEXITY 5000): the error's code and message, or null. */
  const refusal = (query: string, variables?: Record<string, unknown>) => {
    const e = costError(cost(query, variables), 5000);
    return e ? [e.extensions.code, e.message] : null;
  };

  it('refuses every command with its output, 100 at a time (Command.output holds up to 10,000 events)', () => {
    expect(refusal('{ commands(first: 100) { edges { node { output { text } } } } }')).toEqual([
      'QUERY_TOO_COMPLEX',
      expect.stringMatching(/^the query would cost about \d+ fields, more than the 5000 allowed \(RDEV_MAX_QUERY_COMPLEXITY\); ask for fewer items or fields$/),
    ]);
  });
  it('reads first from a variable', () => {
    const query = 'query($n: Int) { commands(first: $n) { edges { node { output { text } } } } }';
    expect(refusal(query, { n: 100 })?.[0]).toBe('QUERY_TOO_COMPLEX');
    expect(refusal(query, { n: 2 })).toBeNull();
    // Without the variable, a connection is its default 20 commands.
    expect(cost(query)).toBe(cost('{ commands(first: 20) { edges { node { output { text } } } } }'));
  });
  it("accepts one command's whole output, and the ordinary queries", () => {
    expect(refusal('query($id: ID!) { command(id: $id) { status output { seq stream text at } } }', { id: 'x' })).toBeNull();
    expect(refusal('{ projects { id commands(first: 5) { edges { node { id status } } } } }')).toBeNull();
    expect(
      refusal(
        '{ auditLog(first: 200) { seq at decision caller projectId kind argv commandId refusal { code ' +
          'message } status exitCode outputBytes outputSha256 finishedAt } }',
      ),
    ).toBeNull();
  });
  it('costs a list by its first, else its default, never past its maximum', () => {
    const auditLog = (args: string) => cost(`{ auditLog${args} { seq } }`);
    expect([auditLog('(first: 1)'), auditLog(''), auditLog('(first: 200)'), auditLog('(first: 5000)')]).toEqual([1 + 1, 1 + 100, 1 + 200, 1 + 200]);
    // A connection counts its items through its edges; output events cost per hundred.
    expect(cost('{ commands(first: 7) { edges { node { id } } } }')).toBe(1 + 7 * (1 + (1 + 1)));
    expect(cost('{ command(id: "x") { output(first: 250) { seq } } }')).toBe(1 + (1 + 3 * 1));
  });
  it('multiplies Query.projects by the projects there are', () => {
    expect(cost('{ projects { id } }', undefined, 40)).toBe(1 + 40);
  });
  it('declares a cost on every list field of the schema that returns objects', () => {
    const undeclared: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || !isObjectType(type)) continue;
      for (const field of Object.values(type.getFields())) {
        const returnsList = isListType(isNonNullType(field.type) ? field.type.ofType : field.type) || getNamedType(field.type).name.endsWith('Connection');
        if (returnsList && isCompositeType(getNamedType(field.type)) && typeof field.extensions.complexity !== 'function')
          undeclared.push(`${type.name}.${field.name}`);
      }
    }
    expect(undeclared).toEqual([]);
  });
});
