/**
 * Wraps a source that takes an AbortSignal into an iterator whose `return()` aborts it at once.
 * An async generator suspended on an await would queue `return()` behind that await, so a
 * subscriber that disconnects from an idle command would never be released. `onRelease` runs
 * once the iterator is done, returned or thrown (it must be idempotent).
 */
export function abortable<T>(make: (signal: AbortSignal) => AsyncIterable<T>, outer?: AbortSignal, onRelease?: () => void): AsyncIterableIterator<T> {
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort();
  // The caller may have awaited (a store lookup) before this: a client that left meanwhile ends it at once.
  if (outer?.aborted) controller.abort();
  else outer?.addEventListener('abort', onOuterAbort, { once: true });
  const inner = make(controller.signal)[Symbol.asyncIterator]();
  const release = (): void => {
    outer?.removeEventListener('abort', onOuterAbort);
    controller.abort();
    onRelease?.();
  };
  return {
    async next() {
      const result = await inner.next();
      if (result.done) release();
      return result;
    },
    async return() {
      release();
      await inner.return?.();
      return { done: true, value: undefined };
    },
    async throw(err: unknown) {
      release();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
