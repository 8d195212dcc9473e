import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { Identity } from './identity.js';
import { ROLES } from './identity.js';

/** The tokens of `RDEV_TOKENS_FILE`, checked by their sha256 so that no token is kept in memory as given. */
export interface TokenSet {
  /** The identity whose token this is, or undefined. */
  find(token: string): Identity | undefined;
  size: number;
}

const kind = z
  .string()
  .transform((k) => k.toUpperCase())
  .pipe(z.enum(['CLAUDE', 'SHELL', 'GIT']));

const entry = z
  .object({
    name: z.string().regex(/^[\w.@-]{1,64}$/, 'a name of letters, digits, ".", "_", "@" or "-"'),
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex digits')
      .optional(),
    role: z.enum(ROLES),
    projects: z.array(z.string().min(1)).optional(),
    kinds: z.array(kind).optional(),
    git: z
      .object({
        forbidForcePush: z.boolean().optional(),
        subcommands: z.array(z.string().regex(/^[a-z][a-z-]*$/)).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((e) => (e.token === undefined) !== (e.sha256 === undefined), { message: 'give exactly one of token and sha256' });

const file = z.object({ tokens: z.array(entry).min(1, 'must list at least one token') }).strict();

/** sha256 of a token, as hex. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Parses a tokens file's text; throws an Error naming the entry and field at fault. */
export function parseTokens(text: string): TokenSet {
  const parsed = file.safeParse(parseYaml(text));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`${issue.path.join('.') || 'tokens'}: ${issue.message}`);
  }
  const byHash: Array<{ hash: Buffer; identity: Identity }> = [];
  const names = new Set<string>();
  for (const e of parsed.data.tokens) {
    if (names.has(e.name)) throw new Error(`tokens: duplicate name ${e.name}`);
    names.add(e.name);
    const hex = (e.sha256 ?? sha256Hex(e.token!)).toLowerCase();
    byHash.push({
      hash: Buffer.from(hex, 'hex'),
      identity: Object.freeze({
        name: e.name,
        role: e.role,
        projects: e.projects ? new Set(e.projects) : null,
        kinds: e.kinds ? new Set(e.kinds) : null,
        git: { forbidForcePush: e.git?.forbidForcePush ?? false, subcommands: e.git?.subcommands ? new Set(e.git.subcommands) : null },
      }),
    });
  }
  return {
    size: byHash.length,
    find(token) {
      const hash = createHash('sha256').update(token, 'utf8').digest();
      // Compare against every entry in constant time per entry, so timing does not tell which one is close.
      let found: Identity | undefined;
      for (const e of byHash) if (timingSafeEqual(e.hash, hash)) found = e.identity;
      return found;
    },
  };
}

/** Reads `RDEV_TOKENS_FILE`. */
export function loadTokens(path: string): TokenSet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read it: ${(err as Error).message}`);
  }
  return parseTokens(text);
}
