import { describe, expect, it } from 'vitest';
import { authenticate } from '../../src/auth/authenticate.js';
import { ANONYMOUS_ADMIN } from '../../src/auth/identity.js';
import { assertMayRun } from '../../src/auth/policy.js';
import { parseTokens, sha256Hex } from '../../src/auth/tokens.js';

const yaml = `tokens:
  - { name: bot, token: "plain-token-0123456789", role: operator, projects: [alpha], kinds: [git, SHELL] }
  - { name: ops, sha256: "${sha256Hex('hashed-token-0123456789')}", role: admin }
`;

describe('tokens file', () => {
  const tokens = parseTokens(yaml);

  it('finds identities by plain and by sha256-stored tokens', () => {
    expect(tokens.find('plain-token-0123456789')).toMatchObject({
      name: 'bot',
      role: 'operator',
      projects: new Set(['alpha']),
      kinds: new Set(['GIT', 'SHELL']),
    });
    expect(tokens.find('hashed-token-0123456789')).toMatchObject({ name: 'ops', role: 'admin', projects: null, kinds: null });
    expect(tokens.find('nope')).toBeUndefined();
  });

  it.each([
    ['tokens: []', /tokens: must list at least one token/],
    ['tokens: [{ name: a, role: admin }]', /give exactly one of token and sha256/],
    ['tokens: [{ name: a, token: short, role: admin }]', /tokens\.0\.token: must be at least 16 characters/],
    ['tokens: [{ name: a, sha256: xyz, role: admin }]', /must be 64 hex digits/],
    ['tokens: [{ name: a, token: "0123456789abcdefg", role: root }]', /tokens\.0\.role/],
    ['tokens: [{ name: a, token: "0123456789abcdefg", role: admin, extra: 1 }]', /tokens\.0/],
  ])('refuses %s', (text, message) => {
    expect(() => parseTokens(text)).toThrow(message);
  });
});

describe('authenticate', () => {
  const tokens = parseTokens(yaml);
  it('is the anonymous admin when authentication is off', () => {
    expect(authenticate(null, {})).toBe(ANONYMOUS_ADMIN);
  });
  it('takes a Bearer header, or an access token where allowed', () => {
    expect(authenticate(tokens, { authorization: 'Bearer plain-token-0123456789' }).name).toBe('bot');
    expect(authenticate(tokens, { accessToken: 'hashed-token-0123456789' }).name).toBe('ops');
  });
  it.each([
    [{}, /a token is required/],
    [{ authorization: 'Basic abc' }, /must be "Bearer <token>"/],
    [{ authorization: 'Bearer wrong' }, /not valid/],
  ])('refuses %j with UNAUTHENTICATED', (credentials, message) => {
    expect(() => authenticate(tokens, credentials)).toThrow(message);
  });
});

describe('assertMayRun', () => {
  const bot = parseTokens(yaml).find('plain-token-0123456789')!;
  it('hides other projects as NOT_FOUND and refuses other kinds as FORBIDDEN', () => {
    expect(() => assertMayRun(bot, 'alpha', 'GIT')).not.toThrow();
    expect(() => assertMayRun(bot, 'beta', 'GIT')).toThrow(/project "beta" not found/);
    expect(() => assertMayRun(bot, 'alpha', 'CLAUDE')).toThrow(/may not run CLAUDE commands/);
  });
});
