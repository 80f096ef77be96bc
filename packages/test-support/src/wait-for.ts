/**
 * Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`
 * with `description`. For outcomes that no event announces (a row in the sandbox's call log, a key
 * in Redis); prefer awaiting an event where one exists.
 */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 10_000, intervalMs = 20, description = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${description}` +
          (lastError instanceof Error ? `: ${lastError.message}` : ''),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
