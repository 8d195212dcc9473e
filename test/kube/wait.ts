/** Waiting in tests without fixed sleeps: poll a condition, or record events, until a deadline. */

/** Polls `condition` every 10 ms until it holds; throws with `what` (and the last value seen) at the deadline. */
export async function until<T>(what: string, probe: () => T, holds: (value: T) => boolean = Boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (holds(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A list that can be awaited until a predicate over it holds. */
export function recorder<T>() {
  const items: T[] = [];
  const checks = new Set<() => void>();
  return {
    items,
    push(item: T) {
      items.push(item);
      for (const check of [...checks]) check();
    },
    waitFor(what: string, predicate: (items: T[]) => boolean, timeoutMs = 30_000): Promise<T[]> {
      if (predicate(items)) return Promise.resolve(items);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          checks.delete(check);
          reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(items)}`));
        }, timeoutMs);
        const check = () => {
          if (!predicate(items)) return;
          clearTimeout(timer);
          checks.delete(check);
          resolve(items);
        };
        checks.add(check);
      });
    },
  };
}
