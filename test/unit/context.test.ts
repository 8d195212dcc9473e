import { describe, expect, it } from 'vitest';
import { UnauthenticatedError } from '../../src/auth/authenticate.js';
import { ANONYMOUS_ADMIN, type Identity } from '../../src/auth/identity.js';
import { contextOf, type Context } from '../../src/schema/context.js';

// Stand-ins for the app's parts: contextOf only passes them on.
const parts = { runs: {}, registry: {}, projectEvents: {}, logger: {}, guard: {}, audit: {} } as unknown as Omit<Context, 'identity' | 'signal'>;
const viewer: Identity = { name: 'bot', role: 'viewer', projects: null, kinds: null, git: { forbidForcePush: false, subcommands: null } };

describe('contextOf', () => {
  it('refuses a request that reached Yoga without an identity with UNAUTHENTICATED, instead of making it anyone', () => {
    const request = new AbortController().signal;
    expect(() => contextOf(parts, {}, request)).toThrow(UnauthenticatedError);
    expect(() => contextOf(parts, { identity: undefined }, request)).toThrow('the request carries no identity');
  });

  it('carries the identity the gate authenticated, and the server signal over the request one', () => {
    const request = new AbortController().signal;
    const server = new AbortController().signal;
    const context = contextOf(parts, { identity: viewer, signal: server }, request);
    expect(context.identity).toBe(viewer);
    expect(context.identity).not.toBe(ANONYMOUS_ADMIN);
    expect(context.signal).toBe(server);
    expect(contextOf(parts, { identity: viewer }, request).signal).toBe(request);
  });
});
