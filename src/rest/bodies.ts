import { z } from 'zod';
import {
  allowedToolsRule,
  firstIssue,
  gitArgsRule,
  idempotencyKeyRule,
  maxTurnsRule,
  modelRule,
  promptRule,
  sessionIdRule,
  shellCommandRule,
  timeoutRule,
  workdirRule,
} from '../runs/inputs.js';
import { BadUserInputError } from '../errors.js';
import { CLAUDE_PERMISSION_MODES } from '../runs/command-builders.js';

/**
 * The REST shims' request bodies (seed release notes): `{"prompt"}`, `{"command"}`, `{"args"}`,
 * plus the GraphQL input's optional fields in snake_case. Unknown fields are refused, so a typo
 * does not silently run something else than meant.
 */

const common = {
  timeout_seconds: timeoutRule.optional(),
  idempotency_key: idempotencyKeyRule.optional(),
};

export const shellBody = z.strictObject({ command: shellCommandRule, workdir: workdirRule.optional(), ...common });
export const gitBody = z.strictObject({ args: gitArgsRule, ...common });
export const claudeBody = z
  .strictObject({
    prompt: promptRule,
    session_id: sessionIdRule.optional(),
    continue_session: z.boolean().optional(),
    model: modelRule.optional(),
    allowed_tools: allowedToolsRule.optional(),
    max_turns: maxTurnsRule.optional(),
    permission_mode: z.enum(CLAUDE_PERMISSION_MODES).optional(),
    ...common,
  })
  .refine((b) => !(b.session_id && b.continue_session), { message: 'give session_id or continue_session, not both', path: ['continue_session'] });

/** Parses `body` with `schema`; the first problem becomes BAD_USER_INPUT naming the field. */
export function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new BadUserInputError(issue.keys.join(', '), 'is not a field of this request');
  const [field, reason] = firstIssue(parsed.error);
  throw new BadUserInputError(field || 'body', reason);
}

/** The REST body's name of a field the run manager names as the GraphQL input does (`timeoutSeconds` → `timeout_seconds`). */
export function restFieldName(field: string): string {
  return field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** `err` with its field named as the REST body names it, when it is a refusal of a field. */
export function inRestTerms(err: unknown): unknown {
  if (!(err instanceof BadUserInputError)) return err;
  const field = restFieldName(err.field);
  return field === err.field ? err : new BadUserInputError(field, err.reason);
}
