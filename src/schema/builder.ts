import SchemaBuilder from '@pothos/core';
import ZodPlugin from '@pothos/plugin-zod';
import { BadUserInputError } from '../errors.js';
import { firstIssue } from '../runs/inputs.js';
import type { Context } from './context.js';

/** The only SchemaBuilder: plugins, context and scalars. Each area adds its fields in its own file. */
export const builder = new SchemaBuilder<{
  Context: Context;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ZodPlugin],
  defaultFieldNullability: false,
  zod: {
    // Zod's own error would be masked as "Unexpected error."; clients get the field and the rule.
    validationError: (error) => {
      // Name the input field itself ("command", not "input.command"), as the run manager's own checks do.
      const [path, reason] = firstIssue(error);
      return new BadUserInputError(path.replace(/^input\./, ''), reason);
    },
  },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});
