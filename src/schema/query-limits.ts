/**
 * How deep and how costly one operation may be (`RDEV_MAX_QUERY_DEPTH`, `RDEV_MAX_QUERY_COMPLEXITY`).
 *
 * The cost is graphql-query-complexity's: every field costs one, and a list multiplies what its
 * items cost by how many it can return, as the list field declares it in `extensions.complexity`
 * ({@link listCost}): its `first` argument (a variable's value included), else its real default,
 * never more than its maximum. It is checked when the operation executes, where the variables are
 * known: Yoga caches validation per document, so a validation rule cannot depend on them. The depth
 * and the number of fields are our own validation rule ({@link queryShapeRule}: a walk of the
 * document, which needs no variables, so its result may be cached; no library counts fields
 * through fragments before graphql's overlap check gives up on them). Both refuse with
 * `QUERY_TOO_COMPLEX` (HTTP 400).
 */
import {
  GraphQLError,
  Kind,
  getOperationAST,
  getVariableValues,
  type ASTVisitor,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';
import { fieldExtensionsEstimator, getComplexity, simpleEstimator, type ComplexityEstimator } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';

/** How deep and how costly one operation may be. */
export interface QueryLimits {
  maxDepth: number;
  maxComplexity: number;
  /**
   * How many projects `Query.projects` returns now (its cost multiplies by it).
   * @default () => 1
   */
  projectCount?: () => number;
}

/** What a field's cost may depend on besides its arguments (graphql-query-complexity's estimator `context`). */
export interface CostContext {
  projects: number;
}

/**
 * The most fields (fragments expanded) one operation is looked at for its cost. {@link
 * queryShapeRule} has refused documents with more than `maxComplexity` fields before; this bounds
 * the analyser for a limit set higher.
 */
const MAX_COSTED_NODES = 100_000;

function tooComplex(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'QUERY_TOO_COMPLEX', http: { status: 400 } } });
}

/**
 * The cost of a list field, for its `extensions.complexity`: one, plus its items' cost times the
 * items it can return: `first` when given, else `defaultSize`; never more than `maxSize`. With
 * `perBatch`, items are priced per batch of that many (rounded up): for leaf rows that one read
 * returns together (output events), whose number says little of the work.
 */
export function listCost(o: { defaultSize: number; maxSize: number; perBatch?: number }): ComplexityEstimator {
  return ({ args, childComplexity }) => {
    const first = typeof args.first === 'number' ? args.first : o.defaultSize;
    const items = Math.max(0, Math.min(first, o.maxSize));
    return 1 + Math.ceil(items / (o.perBatch ?? 1)) * childComplexity;
  };
}

/** The cost of `Query.projects`: each project's, times how many there are now. */
export const projectsCost: ComplexityEstimator = ({ childComplexity, context }) =>
  1 + Math.max(1, (context as CostContext | undefined)?.projects ?? 1) * childComplexity;

/** The cost of a connection's `edges`: one item's; the connection field multiplies by its `first`. */
export const edgesCost: ComplexityEstimator = ({ childComplexity }) => 1 + childComplexity;

/** The cost of the operation `operationName` of `document` with these variables (undefined when the variables do not fit: execution refuses them). */
export function queryCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | undefined,
  operationName: string | undefined,
  context: CostContext,
): number | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const { errors } = getVariableValues(schema, operation.variableDefinitions ?? [], variables ?? {});
  if (errors?.length) return undefined;
  return getComplexity({
    schema,
    query: document,
    variables: variables ?? {},
    ...(operationName ? { operationName } : {}),
    context: { ...context },
    maxQueryNodes: MAX_COSTED_NODES,
    estimators: [fieldExtensionsEstimator(), simpleEstimator({ defaultComplexity: 1 })],
  });
}

/**
 * A validation rule, on the document alone: its selections may nest at most `maxDepth` levels, and
 * it may select at most `maxFields` fields, fragments expanded (every field costs at least one, so
 * more cannot fit the cost limit; and graphql's own overlap check gives up on such documents with
 * a bare "Validation aborted."). Introspection is left to graphql's introspection depth rule.
 */
export function queryShapeRule(o: { maxDepth: number; maxFields: number }) {
  return function queryShape(context: ValidationContext): ASTVisitor {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of context.getDocument().definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    let fields = 0;
    let deepest = 0;
    const over = (): boolean => deepest > o.maxDepth || fields > o.maxFields;
    const walk = (set: SelectionSetNode, depth: number, seen: ReadonlySet<string>): void => {
      deepest = Math.max(deepest, depth);
      for (const sel of set.selections) {
        if (over()) return;
        if (sel.kind === Kind.FIELD) {
          fields++;
          if (sel.selectionSet && !sel.name.value.startsWith('__')) walk(sel.selectionSet, depth + 1, seen);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          walk(sel.selectionSet, depth, seen);
        } else {
          const fragment = fragments.get(sel.name.value);
          if (!fragment || seen.has(fragment.name.value)) continue; // cycles are reported by graphql's own rule
          walk(fragment.selectionSet, depth, new Set([...seen, fragment.name.value]));
        }
      }
    };
    return {
      OperationDefinition(node) {
        fields = 0;
        deepest = 0;
        walk(node.selectionSet, 1, new Set());
        if (deepest > o.maxDepth)
          context.reportError(tooComplex(`the query is nested deeper than ${o.maxDepth} levels, the most allowed (RDEV_MAX_QUERY_DEPTH)`));
        else if (fields > o.maxFields)
          context.reportError(
            tooComplex(`the query would cost more than ${o.maxFields} fields, the most allowed (RDEV_MAX_QUERY_COMPLEXITY); ask for fewer items or fields`),
          );
      },
    };
  };
}

/** The error for an operation over the cost limit (undefined when it is within it). */
export function costError(cost: number | undefined, maxComplexity: number): GraphQLError | undefined {
  if (cost === undefined || cost <= maxComplexity) return undefined;
  return tooComplex(
    `the query would cost about ${Math.ceil(cost)} fields, more than the ${maxComplexity} allowed (RDEV_MAX_QUERY_COMPLEXITY); ask for fewer items or fields`,
  );
}

/** A document's costs by operation, project count and variables ({@link costKey}); the verdict `TOO_MANY_NODES` past {@link MAX_COSTED_NODES}. */
type Costs = Map<string, number | undefined | typeof TOO_MANY_NODES>;
const TOO_MANY_NODES = Symbol('too many nodes');
/** Costs kept per document: a client's few variable sets, not every value an id ever took. */
const COSTS_PER_DOCUMENT = 64;
/** Variables longer than this (as JSON) are costed every time, not kept. */
const MAX_KEYED_VARIABLES = 1024;

/** Where an operation's cost is kept, or undefined when it is not (variables too long to keep, or nested too deep to write). */
function costKey(operationName: string | undefined, projects: number, variables: unknown): string | undefined {
  let json: string;
  try {
    json = variables === undefined || variables === null ? '' : JSON.stringify(variables);
  } catch {
    return undefined; // a value nested past the stack (hostile input): costed, not kept
  }
  return json.length > MAX_KEYED_VARIABLES ? undefined : `${operationName ?? ''}\n${projects}\n${json}`;
}

/**
 * Refuses operations nested deeper than `maxDepth` or with more than `maxComplexity` fields (validation), or costing more
 * than `maxComplexity` (before they execute).
 */
export function useQueryLimits(limits: QueryLimits): Plugin {
  // Yoga parses a query text once and hands every request the same document: its cost is worked out
  // once per document, operation, variables and project count (graphql-query-complexity walks the
  // whole document with a TypeInfo, which cost more than executing `{ projects { id status } }`).
  const costs = new WeakMap<DocumentNode, Costs>();
  const costOf = (args: CheckArgs, projects: number): number | undefined | typeof TOO_MANY_NODES => {
    try {
      return queryCost(args.schema, args.document, (args.variableValues ?? undefined) as Record<string, unknown> | undefined, args.operationName ?? undefined, {
        projects,
      });
    } catch (err) {
      // graphql-query-complexity throws this past MAX_COSTED_NODES (a fragment spread over and over);
      // anything else it throws is an input error that execution reports in its own words.
      return /maximum allowed number of nodes/.test((err as Error).message) ? TOO_MANY_NODES : undefined;
    }
  };
  const check = (args: CheckArgs): GraphQLError | undefined => {
    const projects = limits.projectCount?.() ?? 1;
    const key = costKey(args.operationName ?? undefined, projects, args.variableValues);
    let known = costs.get(args.document);
    let cost = key === undefined ? undefined : known?.get(key);
    if (key === undefined || !known?.has(key)) {
      cost = costOf(args, projects);
      if (key !== undefined) {
        if (!known || known.size >= COSTS_PER_DOCUMENT) costs.set(args.document, (known = new Map()));
        known.set(key, cost);
      }
    }
    if (cost === TOO_MANY_NODES) {
      return tooComplex(
        `the query has more than ${MAX_COSTED_NODES} fields once its fragments are expanded (RDEV_MAX_QUERY_COMPLEXITY); ask for fewer items or fields`,
      );
    }
    return costError(cost, limits.maxComplexity);
  };
  const shape = queryShapeRule({ maxDepth: limits.maxDepth, maxFields: limits.maxComplexity });
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(shape);
    },
    onExecute({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = check(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

/** What {@link useQueryLimits} reads of an operation about to execute. */
interface CheckArgs {
  schema: GraphQLSchema;
  document: DocumentNode;
  variableValues?: unknown;
  operationName?: string | null | undefined;
}
