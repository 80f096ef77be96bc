/**
 * Settles like `work`, or rejects with `onTimeout()` after `ms`, whichever comes first. `work` keeps
 * running after a timeout; its late rejection is absorbed so it never becomes an unhandled rejection.
 */
export async function runWithDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
