import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type OperationDefinitionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

type Result = ExecutionResult | Promise<ExecutionResult>;

/**
 * Subscriptions run as graphql-js runs them (the subscribe resolver's stream, then an `execute`
 * of the operation for each event), except that subscribers of the same event object with the
 * same document, operation, variables and caller share one execution. The run manager hands one
 * event object to every follower of a command (and project events are one object for all their
 * subscribers), so 1,000 subscribers of a command cost one execution per event instead of 1,000
 * (union completion, field collection and variable coercion were most of the server's CPU per
 * delivery). The shared result is never changed afterwards: plugins that alter a result replace it.
 */
export function useSharedSubscriptionResults(callerOf: (context: unknown) => string): Plugin {
  /** Per event object: the results computed for it, by document id, operation, variables and caller. */
  const results = new WeakMap<object, Map<string, Result>>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;
  const documentId = (document: DocumentNode): number => {
    let id = documentIds.get(document);
    if (id === undefined) documentIds.set(document, (id = nextDocumentId++));
    return id;
  };
  return {
    onSubscribe: ({ setSubscribeFn }) => {
      setSubscribeFn(async (args) => {
        const source = await createSourceEventStream(args as ExecutionArgs);
        if (!(Symbol.asyncIterator in source)) return source; // refused before the stream: `{ errors }`
        const key = `${documentId(args.document)}\0${args.operationName ?? ''}\0${JSON.stringify(args.variableValues ?? {})}\0${callerOf(args.contextValue)}`;
        const run = (payload: unknown): Result => {
          const perEvent = { ...(args as ExecutionArgs), rootValue: payload };
          if (typeof payload !== 'object' || payload === null) return execute(perEvent);
          let byKey = results.get(payload);
          if (!byKey) results.set(payload, (byKey = new Map()));
          let result = byKey.get(key);
          if (!result) byKey.set(key, (result = execute(perEvent)));
          return result;
        };
        return mapResults(source[Symbol.asyncIterator](), run, getOperationAST(args.document, args.operationName));
      });
    },
  };
}

/**
 * `source`'s events as results; `return()` and `throw()` go straight to the source (a subscriber leaving ends it at once).
 * An error of the source (a subscriber that fell too far behind) ends the stream located at the operation, as Yoga's
 * own executor reports it.
 */
function mapResults(
  source: AsyncIterator<unknown>,
  run: (payload: unknown) => Result,
  operation: OperationDefinitionNode | null | undefined,
): AsyncIterableIterator<ExecutionResult> {
  const located = (err: unknown): never => {
    if (!(err instanceof Error)) throw err;
    throw new GraphQLError(err.message, { nodes: operation ? [operation] : undefined, originalError: err });
  };
  return {
    next: () =>
      source.next().then((r) => (r.done ? { done: true, value: undefined } : Promise.resolve(run(r.value)).then((value) => ({ done: false, value }))), located),
    return: () => (source.return ? source.return() : Promise.resolve({ done: true, value: undefined })) as Promise<IteratorResult<ExecutionResult>>,
    throw: (err: unknown) => (source.throw ? source.throw(err) : Promise.reject(err)) as Promise<IteratorResult<ExecutionResult>>,
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
