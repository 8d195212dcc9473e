import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * A subscription refused at subscribe time (NOT_FOUND, say) yields `{ errors }` without `data`.
 * graphql-sse 2.6's handler recognises an execution result only when it has a `data` key, and
 * otherwise answers 400 "Unable to detect operation AST", hiding the real error; adding
 * `data: null` (as the GraphQL spec allows) lets it stream the errors as a `next` event.
 */
export function useSubscriptionErrorData(): Plugin {
  return {
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (typeof result === 'object' && result !== null && !(Symbol.asyncIterator in result) && !('data' in result)) {
          setResult({ data: null, ...(result as ExecutionResult) });
        }
      },
    }),
  };
}
