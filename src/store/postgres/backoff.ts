/** How long to wait before the next attempt while the database is away: 250 ms, doubling to 5 s. */
export function nextRetryMs(previousMs: number): number {
  return previousMs === 0 ? 250 : Math.min(5000, previousMs * 2);
}

/** Waits `ms`, or less when `until` settles first; the timer never outlives the wait. */
export async function sleep(ms: number, until?: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), ...(until ? [until] : [])]);
  } finally {
    clearTimeout(timer);
  }
}
