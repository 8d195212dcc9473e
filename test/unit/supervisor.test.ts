import { describe, expect, it } from 'vitest';
import { parsePgid, removeArgv, shellQuote, signalArgv, spoolDirOf, startArgv } from '../../src/exec/supervisor.js';
import { lostReason, parseState, stateArgv } from '../../src/exec/supervisor-follow.js';

describe('shellQuote', () => {
  it('wraps in single quotes and closes, escapes and reopens around a quote', () => {
    expect([shellQuote(''), shellQuote('a b'), shellQuote(`it's`), shellQuote(`$HOME "x" \\`)]).toEqual([`''`, `'a b'`, `'it'\\''s'`, `'$HOME "x" \\'`]);
  });
});

describe('spoolDirOf', () => {
  it('joins the spool root and the command id, whatever trailing slashes the root has', () => {
    expect([spoolDirOf('/spool', 'abc-1'), spoolDirOf('/spool//', 'abc-1')]).toEqual(['/spool/abc-1', '/spool/abc-1']);
  });

  it.each(['../x', '..', '.', '', 'a/b', '-a', 'a b', 'a\nb'])('refuses the id %j', (id) => {
    expect(() => spoolDirOf('/spool', id)).toThrow(/invalid command id/);
  });
});

describe('parseState', () => {
  it('reads each word stateArgv prints', () => {
    expect(['exit 0\n', 'exit 143', 'running\n', 'dead', 'missing\n'].map(parseState)).toEqual([
      { type: 'exit', exitCode: 0 },
      { type: 'exit', exitCode: 143 },
      { type: 'running' },
      { type: 'dead' },
      { type: 'missing' },
    ]);
  });

  it('is undefined for anything else', () => {
    expect(['', 'exit', 'exit -1', 'exit 1234', 'exit x', 'Running', 'sh: not found'].map(parseState)).toEqual(Array(7).fill(undefined));
  });
});

describe('parsePgid', () => {
  it('reads a group id with surrounding whitespace', () => {
    expect([parsePgid('1234\n'), parsePgid('  2 ')]).toEqual([1234, 2]);
  });

  it('is undefined for nothing, 0, 1 (our own group, every process) and anything not a number', () => {
    expect(['', '\n', '0', '1', '-5', '12 34', 'abc', '1e3', '99999999999999999999'].map(parsePgid)).toEqual(Array(9).fill(undefined));
  });
});

describe('startArgv', () => {
  const base = { spool: '/spool/c-1', workspace: '/w', dir: '/w/sub', argv: ['git', 'status'] };

  it('runs sh -c with the spool, workspace, directory and argv as positional arguments, never in the script', () => {
    const argv = startArgv(base);
    expect([...argv.slice(0, 2), ...argv.slice(3)]).toEqual(['sh', '-c', 'rdev-start', '/spool/c-1', '/w', '/w/sub', 'git', 'status']);
    expect(argv[2]).not.toMatch(/git status|\/w\/sub/);
  });

  it('exports each extra environment variable quoted', () => {
    expect(startArgv({ ...base, env: { FOO: `it's`, _B2: '' } })[2]).toContain(`export FOO='it'\\''s'; export _B2=''; `);
  });

  it('refuses an empty argv', () => {
    expect(() => startArgv({ ...base, argv: [] })).toThrow(/argv is empty/);
  });

  it('passes maxSpoolBytes to the supervisor, which then starts the spool checker; none without it or with 0', () => {
    const bounded = startArgv({ ...base, maxSpoolBytes: 1_000_000 });
    expect([...bounded.slice(0, 2), ...bounded.slice(3)]).toEqual(['sh', '-c', 'rdev-start', '/spool/c-1', '/w', '/w/sub', 'git', 'status']);
    expect(bounded[2]).toContain('m=1000000; ');
    expect(bounded[2]).toContain('rdev-spool-check');
    expect(bounded[2]).toContain('fallocate --punch-hole --offset');
    for (const maxSpoolBytes of [undefined, 0]) {
      const script = startArgv({ ...base, maxSpoolBytes })[2];
      expect(script).not.toMatch(/fallocate|rdev-spool-check/);
      expect(script).toBe(startArgv(base)[2]);
    }
  });

  it.each([-1, 1.5, NaN, Infinity, 2 ** 53])('refuses maxSpoolBytes %s', (maxSpoolBytes) => {
    expect(() => startArgv({ ...base, maxSpoolBytes })).toThrow(/invalid maxSpoolBytes/);
  });

  it.each(['', '1A', 'A-B', 'A B', 'A=B', 'A;rm'])('refuses the environment variable name %j', (name) => {
    expect(() => startArgv({ ...base, env: { [name]: 'x' } })).toThrow(/invalid environment variable name/);
  });
});

describe('the other argv builders', () => {
  it('pass the spool as a positional argument', () => {
    expect({
      signal: [signalArgv('/s/c', 'TERM').slice(0, 2), signalArgv('/s/c', 'TERM').slice(3)],
      state: [stateArgv('/s/c').slice(0, 2), stateArgv('/s/c').slice(3)],
      remove: removeArgv('/s/c'),
    }).toEqual({
      signal: [
        ['sh', '-c'],
        ['rdev-signal', '/s/c'],
      ],
      state: [
        ['sh', '-c'],
        ['rdev-state', '/s/c'],
      ],
      remove: ['rm', '-rf', '--', '/s/c'],
    });
  });

  it('signal with the signal asked for', () => {
    expect([signalArgv('/s/c', 'TERM')[2], signalArgv('/s/c', 'KILL')[2]]).toEqual([
      expect.stringContaining('kill -s TERM --'),
      expect.stringContaining('kill -s KILL --'),
    ]);
  });
});

describe('lostReason', () => {
  it('names the missing exit record or the missing spool, with the spool', () => {
    expect([lostReason('dead', '/s/c'), lostReason('missing', '/s/c')]).toEqual([
      expect.stringMatching(/^the supervisor died without an exit record .*\/s\/c$/),
      expect.stringMatching(/^its spool \/s\/c is gone/),
    ]);
  });
});
