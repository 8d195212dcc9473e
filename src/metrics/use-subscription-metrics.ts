import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * A Yoga plugin that counts open GraphQL subscriptions, over Yoga's own SSE and over graphql-sse
 * alike (both run through the envelop `subscribe`). `opened` is called when a subscription's
 * stream starts (not when it fails before starting) and returns the release, called once when
 * the stream ends, is returned (the client went away) or fails.
 */
export function useSubscriptionMetrics(opened: () => () => void): Plugin {
  return {
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (isAsyncIterable(result)) setResult(counted(result, opened()));
      },
    }),
  };
}

/** `source`, calling `release` once when it is done, returned or thrown through (envelop's own `onEnd` misses a throw). */
function counted<T>(source: AsyncIterable<T>, release: () => void): AsyncIterableIterator<T> {
  const inner = source[Symbol.asyncIterator]();
  return {
    async next() {
      try {
        const result = await inner.next();
        if (result.done) release();
        return result;
      } catch (err) {
        release();
        throw err;
      }
    },
    async return(value?: unknown) {
      release();
      return (await inner.return?.(value)) ?? { done: true, value: undefined };
    },
    async throw(err?: unknown) {
      release();
      if (inner.throw) return inner.throw(err);
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
