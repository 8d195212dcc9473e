/** Bounding waits: every path of the kube backend has a timeout. */

/** `p`, or a rejection "no answer within <ms> ms" after `ms` (what `p` was doing goes on unobserved). */
export async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
