import type { z } from 'zod';

/**
 * The one configuration contract: a process reads its environment once, in main.ts, and gets either
 * its configuration or every problem at once, so an operator fixes them in one go. A problem reads
 * "VARIABLE: message" and never repeats a value (several variables hold secrets).
 */
export type ConfigResult<T> = { ok: true; config: T } | { ok: false; problems: string[] };

export type Env = Record<string, string | undefined>;

/**
 * Parses `env` with `schema` and lists every problem. `refine` adds cross-variable problems to the
 * same list; it runs even when the schema failed (then `values` is undefined and it reads `env`),
 * so one run reports everything.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Env,
  refine?: (values: z.output<S> | undefined, env: Env) => string[],
): ConfigResult<z.output<S>> {
  const parsed = schema.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(environment)'}: ${issue.message}`);
  if (refine) problems.push(...refine(parsed.success ? parsed.data : undefined, env));
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, config: parsed.data };
}

/** Maps a successful result's configuration; problems pass through unchanged. */
export function mapConfig<T, U>(result: ConfigResult<T>, map: (config: T) => U): ConfigResult<U> {
  return result.ok ? { ok: true, config: map(result.config) } : result;
}

/** How every process reports an invalid configuration: a heading, then one "  - problem" line each. */
export function formatConfigProblems(name: string, problems: string[]): string {
  return [`${name}: invalid configuration`, ...problems.map((problem) => `  - ${problem}`)].join('\n');
}

/**
 * For tests and benches, where an invalid configuration is a bug in the caller: the configuration,
 * or an Error listing the problems.
 */
export function expectConfig<T>(result: ConfigResult<T>): T {
  if (result.ok) return result.config;
  throw new Error(formatConfigProblems('test configuration', result.problems));
}

/**
 * For main.ts: the configuration, or the problems on stderr and exit 1 (before a logger exists,
 * since the log level is part of the configuration).
 */
export function requireConfig<T>(name: string, result: ConfigResult<T>): T {
  if (result.ok) return result.config;
  process.stderr.write(`${formatConfigProblems(name, result.problems)}\n`);
  process.exit(1);
}
