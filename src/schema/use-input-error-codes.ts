import { GraphQLError, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * graphql-js reports a variable of the wrong type ("Int cannot represent non-integer value")
 * without an `extensions.code`; clients are promised `BAD_USER_INPUT` for every bad input, so
 * this plugin adds it to such errors (no path, no code yet, nothing but a GraphQLError behind them).
 */
export function useInputErrorCodes(): Plugin {
  const tag = (result: ExecutionResult, setResult: (r: ExecutionResult) => void): void => {
    if (!result.errors?.some(isUntaggedInputError)) return;
    setResult({ ...result, errors: result.errors.map((e) => (isUntaggedInputError(e) ? withCode(e) : e)) });
  };
  return {
    onResultProcess: ({ result, setResult }) => {
      if (isResult(result)) tag(result, setResult);
    },
  };
}

function isResult(result: unknown): result is ExecutionResult {
  return typeof result === 'object' && result !== null && !(Symbol.asyncIterator in result);
}

function isUntaggedInputError(e: GraphQLError): boolean {
  // A coercion failure may wrap the scalar's own GraphQLError; any other original error is for masking.
  const cause = e.originalError;
  return e.path === undefined && e.extensions?.code === undefined && (cause == null || cause.name === 'GraphQLError');
}

function withCode(e: GraphQLError): GraphQLError {
  return new GraphQLError(e.message, { nodes: e.nodes, source: e.source, positions: e.positions, extensions: { ...e.extensions, code: 'BAD_USER_INPUT' } });
}
