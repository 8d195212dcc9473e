import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema, findBreakingChanges, getNamedType, isObjectType, isUnionType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/schema/index.js';

const here = path.dirname(new URL(import.meta.url).pathname);
// The contract lives in ../shared (DESIGN.md); a copy is kept here so that a clone alone can run the suite.
const sources = [path.join(here, 'contract.graphql'), path.resolve(here, '../../../shared/contract.graphql')].filter(existsSync);

describe('GraphQL contract', () => {
  it.each(sources)('the served schema breaks nothing in %s', (file) => {
    const contract = buildSchema(readFileSync(file, 'utf8'));
    expect(findBreakingChanges(contract, schema)).toEqual([]);
  });

  // Shown as skipped (not silently passed) where ../shared is not beside the checkout.
  it.skipIf(sources.length < 2)('the repository copy of the contract matches the shared one', () => {
    expect(readFileSync(sources[0]!, 'utf8')).toBe(readFileSync(sources[1]!, 'utf8'));
  });

  it('serves projectEvents as a union that names the command of each event', () => {
    const field = schema.getSubscriptionType()!.getFields().projectEvents!;
    const union = getNamedType(field.type);
    expect(isUnionType(union)).toBe(true);
    if (!isUnionType(union)) return;
    expect(
      union
        .getTypes()
        .map((t) => t.name)
        .sort(),
    ).toEqual(['CommandStatusChanged', 'ProjectCommandEvent', 'ProjectStatusChanged']);
    for (const t of union.getTypes()) expect(isObjectType(t) && Object.keys(t.getFields())).toContain('projectId');
  });
});

describe('GraphiQL examples', () => {
  it('every example operation GraphiQL opens with is valid against the schema', async () => {
    const { parse, validate } = await import('graphql');
    const { GRAPHIQL_DEFAULT_QUERY } = await import('../../src/schema/graphiql.js');
    expect(validate(schema, parse(GRAPHIQL_DEFAULT_QUERY)).map((e) => e.message)).toEqual([]);
  });
});
