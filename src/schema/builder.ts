import SchemaBuilder from '@pothos/core';
import { getArgumentValues } from 'graphql';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ZodPlugin from '@pothos/plugin-zod';
import { hasRole } from '../auth/identity.js';
import { ForbiddenError } from '../auth/policy.js';
import { BadUserInputError } from '../errors.js';
import { firstIssue } from '../runs/inputs.js';
import type { Context } from './context.js';

/** The only SchemaBuilder: plugins, context and scalars. Each area adds its fields in its own file. */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: { viewer: boolean; operator: boolean; admin: boolean };
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, ZodPlugin],
  defaultFieldNullability: false,
  // Roles are declared on the fields (authScopes); src/auth/policy.ts holds the same table for REST.
  scopeAuth: {
    authScopes: (ctx) => ({ viewer: hasRole(ctx.identity, 'viewer'), operator: hasRole(ctx.identity, 'operator'), admin: hasRole(ctx.identity, 'admin') }),
    authorizeOnSubscribe: true,
    unauthorizedError: (_parent, ctx, info) => {
      const refusal = new ForbiddenError(`${info.parentType.name}.${info.fieldName} is not allowed for token ${ctx.identity.name} (role ${ctx.identity.role})`);
      if (info.fieldName in RUN_KINDS) {
        const field = info.parentType.getFields()[info.fieldName]!;
        auditRefusedInput(ctx, info.fieldName, getArgumentValues(field, info.fieldNodes[0]!, info.variableValues), refusal);
      }
      return refusal;
    },
  },
  zod: {
    // Zod's own error would be masked as "Unexpected error."; clients get the field and the rule.
    validationError: (error, args, ctx, info) => {
      // Name the input field itself ("command", not "input.command"), as the run manager's own checks do.
      const [path, reason] = firstIssue(error);
      const refusal = new BadUserInputError(path.replace(/^input\./, ''), reason);
      auditRefusedInput(ctx, info.fieldName, args, refusal);
      return refusal;
    },
  },
});

builder.queryType({ authScopes: { viewer: true } });
builder.mutationType({ authScopes: { operator: true } });
builder.subscriptionType({ authScopes: { viewer: true } });

const RUN_KINDS = { runShell: 'SHELL', runGit: 'GIT', runClaude: 'CLAUDE' } as const;

/** A run mutation refused by input validation is audited like any refused command. */
function auditRefusedInput(ctx: Context, field: string, args: Record<string, unknown>, err: Error): void {
  const kind = RUN_KINDS[field as keyof typeof RUN_KINDS];
  if (!kind) return;
  const input = (args.input ?? {}) as Record<string, unknown>;
  const argv =
    kind === 'GIT' && Array.isArray(input.args)
      ? ['git', ...input.args.map(String)]
      : kind === 'SHELL'
        ? ['sh', '-c', String(input.command ?? '')]
        : ['claude'];
  ctx.guard.refused(ctx.identity, String(input.projectId ?? ''), kind, argv, err);
}
