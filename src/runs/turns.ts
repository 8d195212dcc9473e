/**
 * Steps that take turns: each runs once the one before it has settled (resolved or rejected),
 * in the order they were given. For a process's own read-then-write steps on a store that
 * answers asynchronously (an admission's room check and the insert it allows).
 */
export class Turns {
  private last: Promise<unknown> = Promise.resolve();

  /** Runs `step` after every step given before it; resolves or rejects as `step` does. */
  run<T>(step: () => Promise<T>): Promise<T> {
    const next = this.last.then(step);
    this.last = next.catch(() => {});
    return next;
  }

  /** Resolves once every step given so far has settled. */
  async idle(): Promise<void> {
    await this.last;
  }
}
