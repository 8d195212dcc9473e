import {
  GraphQLError,
  Kind,
  getNamedType,
  isListType,
  isNonNullType,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLOutputType,
  type SelectionSetNode,
  type ValidationContext,
  type ValueNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** How deep and how costly one operation may be. */
export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
}

/** A list field without `first` is counted as this many items. */
const DEFAULT_LIST_SIZE = 20;

function tooComplex(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } } });
}

function intArg(value: ValueNode | undefined, variables: Record<string, unknown> | undefined): number | undefined {
  if (!value) return undefined;
  if (value.kind === Kind.INT) return Number(value.value);
  if (value.kind === Kind.VARIABLE) {
    const v = variables?.[value.name.value];
    return typeof v === 'number' ? v : undefined;
  }
  return undefined;
}

function isList(type: GraphQLOutputType): boolean {
  return isListType(isNonNullType(type) ? type.ofType : type);
}

/**
 * A validation rule: depth counts nested selections (through fragments), cost counts every field,
 * times the number of items a list field can return (`first`, or {@link DEFAULT_LIST_SIZE}).
 * Refusals are `QUERY_TOO_COMPLEX` (HTTP 400).
 */
export function queryLimitsRule(limits: QueryLimits, variables?: Record<string, unknown>) {
  // Validation runs before variables are known; a `first: $n` counts as the default size then.
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of context.getDocument().definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    const schema = context.getSchema();

    // Returns [depth, cost] of a selection set whose parent type is `typeName`.
    // `edgesSize`: inside a connection, how many items its `edges` list holds (the connection's `first`).
    const measure = (set: SelectionSetNode, typeName: string, depth: number, seen: Set<string>, edgesSize = DEFAULT_LIST_SIZE): [number, number] => {
      if (depth > limits.maxDepth) return [depth, 0];
      let deepest = depth;
      let cost = 0;
      const parent = schema.getType(typeName);
      const fields = parent && 'getFields' in parent ? (parent.getFields() as Record<string, { type: GraphQLOutputType }>) : {};
      for (const sel of set.selections) {
        if (sel.kind === Kind.FIELD) {
          const def = fields[sel.name.value];
          let own = 1;
          if (sel.selectionSet && def) {
            const first = intArg(sel.arguments?.find((a) => a.name.value === 'first')?.value, variables);
            const named = getNamedType(def.type).name;
            const connection = named.endsWith('Connection');
            // A connection multiplies through its edges; any other list by its `first` or the default.
            const items = connection ? 1 : isList(def.type) ? Math.max(1, sel.name.value === 'edges' ? edgesSize : (first ?? DEFAULT_LIST_SIZE)) : 1;
            const [d, c] = measure(sel.selectionSet, named, depth + 1, seen, connection ? Math.max(1, first ?? DEFAULT_LIST_SIZE) : DEFAULT_LIST_SIZE);
            deepest = Math.max(deepest, d);
            own += items * c;
          }
          cost += own;
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          const [d, c] = measure(sel.selectionSet, sel.typeCondition?.name.value ?? typeName, depth, seen, edgesSize);
          deepest = Math.max(deepest, d);
          cost += c;
        } else {
          const fragment = fragments.get(sel.name.value);
          if (!fragment || seen.has(fragment.name.value)) continue; // cycles are reported by graphql's own rule
          const [d, c] = measure(fragment.selectionSet, fragment.typeCondition.name.value, depth, new Set([...seen, fragment.name.value]), edgesSize);
          deepest = Math.max(deepest, d);
          cost += c;
        }
        if (cost > limits.maxComplexity * 10) break; // far past the limit already
      }
      return [deepest, cost];
    };

    return {
      OperationDefinition(node) {
        const root = node.operation === 'query' ? schema.getQueryType() : node.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
        if (!root) return;
        const [depth, cost] = measure(node.selectionSet, root.name, 1, new Set());
        if (depth > limits.maxDepth) context.reportError(tooComplex(`the query is nested deeper than ${limits.maxDepth} levels, the most allowed (RDEV_MAX_QUERY_DEPTH)`));
        else if (cost > limits.maxComplexity) context.reportError(tooComplex(`the query would cost about ${cost} fields, more than the ${limits.maxComplexity} allowed (RDEV_MAX_QUERY_COMPLEXITY); ask for fewer items or fields`));
      },
    };
  };
}

/** Adds {@link queryLimitsRule} to every operation's validation. */
export function useQueryLimits(limits: QueryLimits): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(queryLimitsRule(limits));
    },
  };
}
