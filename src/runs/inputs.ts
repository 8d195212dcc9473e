import { z } from 'zod';

/**
 * The rules a run request must meet, shared by the GraphQL schema (through plugin-zod) and the
 * REST shims, so that both refuse the same input with the same words.
 */

const noNul = (s: string): boolean => !s.includes('\0');
const text = (max: number) => z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).refine(noNul, 'must not contain NUL bytes');

export const projectIdRule = z.string().min(1, 'must not be empty').max(253, 'must be at most 253 characters');
export const shellCommandRule = text(100_000);
export const workdirRule = z.string().max(4096, 'must be at most 4096 characters').refine(noNul, 'must not contain NUL bytes');
export const timeoutRule = z.number().int().min(1, 'must be at least 1 second');
export const idempotencyKeyRule = text(200);
export const gitArgsRule = z
  .array(z.string().max(10_000, 'each argument must be at most 10000 characters').refine(noNul, 'arguments must not contain NUL bytes'))
  .min(1, 'must name a git subcommand')
  .max(1000, 'must have at most 1000 arguments');
export const promptRule = text(200_000);
export const sessionIdRule = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be a Claude session id (letters, digits, "-" or "_")');
export const modelRule = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:[\]@-]{0,127}$/, 'must be a model name such as "sonnet" or "claude-sonnet-4-5"');
export const allowedToolsRule = z
  .array(text(500).refine((t) => !t.startsWith('-'), 'a tool name must not start with "-"'))
  .max(100, 'must list at most 100 tools');
export const maxTurnsRule = z.number().int().min(1, 'must be at least 1').max(1000, 'must be at most 1000');

/** The first problem of a failed parse as [dotted field path, reason]. */
export function firstIssue(error: z.ZodError, prefix: string[] = []): [string, string] {
  const issue = error.issues[0]!;
  return [[...prefix, ...issue.path.map(String)].join('.'), issue.message];
}
