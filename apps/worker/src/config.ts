import {
  DEFAULT_QUEUE_PREFIX,
  DEFAULT_REDIS_URL,
  GhlId,
  JOB_ATTEMPTS_CEILING,
  QueuePrefix,
  RedisUrl,
  blankAsUnset,
  redactRedisUrl,
} from '@closeloop/queue';
import { z } from 'zod';

function integer(fallback: number, min: number, max: number) {
  return z.preprocess(blankAsUnset, z.coerce.number().int().min(min).max(max).default(fallback));
}

function optionalString() {
  return z.preprocess(blankAsUnset, z.string().optional());
}

/**
 * A bearer token: printable ASCII without spaces (anything else Node would refuse as a header value).
 * The message never repeats the value: config errors are printed and logged.
 */
const tokenProblem = (token: string): string | undefined =>
  /^[\x21-\x7e]+$/.test(token) ? undefined : 'must be printable ASCII without spaces (value not shown)';

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
export type LogLevel = z.infer<typeof LogLevel>;

/**
 * The worker's environment (DESIGN §2.2 plus the worker's own knobs). Every variable is optional
 * here; cross-variable rules (at least one credential source) are checked in `loadConfig`.
 */
export const WorkerEnv = z.object({
  REDIS_URL: z.preprocess(blankAsUnset, RedisUrl.default(DEFAULT_REDIS_URL)),
  QUEUE_PREFIX: z.preprocess(blankAsUnset, QueuePrefix.default(DEFAULT_QUEUE_PREFIX)),
  GHL_BASE_URL: z.preprocess(
    blankAsUnset,
    z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
      .default('https://services.leadconnectorhq.com'),
  ),
  GHL_API_VERSION: z.preprocess(blankAsUnset, z.string().default('2021-07-28')),
  GHL_TOKEN: optionalString(),
  GHL_LOCATION_ID: z.preprocess(blankAsUnset, GhlId.optional()),
  GHL_LOCATION_TOKENS: optionalString(),
  WORKER_CONCURRENCY: integer(50, 1, 1_000),
  // Below the ceiling every job carries (JOB_ATTEMPTS_CEILING), so BullMQ never fails a job on its own
  // count before the worker has dead-lettered it.
  RETRY_ATTEMPTS: integer(8, 1, Math.min(100, JOB_ATTEMPTS_CEILING - 1)),
  RETRY_BASE_MS: integer(1_000, 1, 3_600_000),
  RETRY_CAP_MS: integer(300_000, 1, 86_400_000),
  GHL_TIMEOUT_MS: integer(15_000, 100, 300_000),
  SHUTDOWN_TIMEOUT_MS: integer(25_000, 0, 3_600_000),
  LOCK_DURATION_MS: integer(30_000, 200, 600_000),
  STALLED_INTERVAL_MS: integer(30_000, 200, 600_000),
  RATE_LIMIT_PER_INTERVAL: integer(100, 1, 1_000_000),
  // rate-limiter-flexible keeps its Redis windows in whole seconds (`EX`, RateLimiterRedis._upsert
  // floors ms/1000, and 0 would mean "never expires"), so the interval must be whole seconds.
  RATE_LIMIT_INTERVAL_MS: z.preprocess(
    blankAsUnset,
    z.coerce
      .number()
      .int()
      .min(1_000)
      .max(86_400_000)
      .refine((ms) => ms % 1_000 === 0, 'must be a whole number of seconds (a multiple of 1000)')
      .default(10_000),
  ),
  LOG_LEVEL: z.preprocess(
    (value) =>
      typeof value === 'string' ? (blankAsUnset(value) as string | undefined)?.toLowerCase() : value,
    LogLevel.default('info'),
  ),
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;

export interface WorkerConfig {
  redisUrl: string;
  queuePrefix: string;
  ghl: {
    baseUrl: string;
    apiVersion: string;
    timeoutMs: number;
    /** locationId → Private Integration Token. Never log this object; see `describeConfig`. */
    tokens: Readonly<Record<string, string>>;
    /** Used for jobs that name no location: GHL_LOCATION_ID, or the only configured location. */
    defaultLocationId: string | undefined;
  };
  concurrency: number;
  retry: { attempts: number; baseMs: number; capMs: number };
  rateLimit: { perInterval: number; intervalMs: number };
  shutdownTimeoutMs: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  logLevel: LogLevel;
}

export type ConfigResult = { ok: true; config: WorkerConfig } | { ok: false; problems: string[] };

/**
 * Parses the environment once (in main.ts) and lists every problem, never a secret.
 *
 * Credentials, at least one source:
 * - single-location mode: GHL_TOKEN (a sub-account Private Integration Token) + GHL_LOCATION_ID
 *   (the location it belongs to). The location is required with the token because rate budgets and
 *   the token lookup are keyed by location, and a PIT sent for another location gets 403 anyway.
 * - agencies with many sub-accounts: GHL_LOCATION_TOKENS="locId1=token1 locId2=token2" (whitespace-
 *   separated; one PIT per sub-account). It may be combined with the two above.
 * A job whose location has no token is dead-lettered NO_CREDENTIALS without calling GHL.
 */
export function loadConfig(env: NodeJS.ProcessEnv): ConfigResult {
  const parsed = WorkerEnv.safeParse(env);
  const problems = parsed.success
    ? []
    : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);

  // Credentials are checked from the raw variables even when another variable is wrong, so one run
  // lists every problem.
  const tokens: Record<string, string> = {};
  const token = blankAsUnset(env.GHL_TOKEN) as string | undefined;
  const locationId = blankAsUnset(env.GHL_LOCATION_ID) as string | undefined;
  if (token !== undefined) {
    const problem = tokenProblem(token);
    if (problem) problems.push(`GHL_TOKEN: ${problem}`);
    if (locationId === undefined) {
      problems.push('GHL_LOCATION_ID: required with GHL_TOKEN (the location the token belongs to)');
    } else if (!problem) {
      tokens[locationId] = token;
    }
  }
  const list = blankAsUnset(env.GHL_LOCATION_TOKENS) as string | undefined;
  if (list !== undefined) {
    list
      .trim()
      .split(/\s+/)
      .forEach((entry, index) => {
        const separator = entry.indexOf('=');
        const id = separator > 0 ? entry.slice(0, separator) : '';
        const value = separator > 0 ? entry.slice(separator + 1) : '';
        const where = `GHL_LOCATION_TOKENS: entry ${index + 1}`;
        if (!GhlId.safeParse(id).success || value === '') {
          problems.push(`${where} must look like locationId=token (letters, digits, "_", "-" in the id)`);
          return;
        }
        const problem = tokenProblem(value);
        if (problem) {
          problems.push(`${where} (location ${id}): token ${problem}`);
          return;
        }
        if (tokens[id] !== undefined && tokens[id] !== value) {
          problems.push(`${where}: location ${id} is given two different tokens`);
          return;
        }
        tokens[id] = value;
      });
  }
  const locations = Object.keys(tokens);
  if (token === undefined && list === undefined) {
    problems.push(
      'GHL credentials: set GHL_TOKEN and GHL_LOCATION_ID (one sub-account), or GHL_LOCATION_TOKENS="locationId=token …" (several)',
    );
  }
  if (
    token === undefined &&
    locationId !== undefined &&
    list !== undefined &&
    tokens[locationId] === undefined
  ) {
    problems.push(`GHL_LOCATION_ID: location ${locationId} has no token in GHL_LOCATION_TOKENS`);
  }

  if (parsed.success && parsed.data.RETRY_BASE_MS > parsed.data.RETRY_CAP_MS) {
    problems.push('RETRY_BASE_MS: must not be greater than RETRY_CAP_MS');
  }

  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  const vars = parsed.data;
  return {
    ok: true,
    config: {
      redisUrl: vars.REDIS_URL,
      queuePrefix: vars.QUEUE_PREFIX,
      ghl: {
        baseUrl: vars.GHL_BASE_URL,
        apiVersion: vars.GHL_API_VERSION,
        timeoutMs: vars.GHL_TIMEOUT_MS,
        tokens,
        defaultLocationId: vars.GHL_LOCATION_ID ?? (locations.length === 1 ? locations[0] : undefined),
      },
      concurrency: vars.WORKER_CONCURRENCY,
      retry: { attempts: vars.RETRY_ATTEMPTS, baseMs: vars.RETRY_BASE_MS, capMs: vars.RETRY_CAP_MS },
      rateLimit: { perInterval: vars.RATE_LIMIT_PER_INTERVAL, intervalMs: vars.RATE_LIMIT_INTERVAL_MS },
      shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS,
      lockDurationMs: vars.LOCK_DURATION_MS,
      stalledIntervalMs: vars.STALLED_INTERVAL_MS,
      logLevel: vars.LOG_LEVEL,
    },
  };
}

/** What the start-up line may show: everything but tokens and the Redis password. */
export function describeConfig(config: WorkerConfig): Record<string, unknown> {
  return {
    redisUrl: redactRedisUrl(config.redisUrl),
    queuePrefix: config.queuePrefix,
    ghlBaseUrl: config.ghl.baseUrl,
    ghlApiVersion: config.ghl.apiVersion,
    ghlTimeoutMs: config.ghl.timeoutMs,
    locations: Object.keys(config.ghl.tokens),
    defaultLocationId: config.ghl.defaultLocationId,
    concurrency: config.concurrency,
    retry: config.retry,
    rateLimit: config.rateLimit,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    lockDurationMs: config.lockDurationMs,
    stalledIntervalMs: config.stalledIntervalMs,
  };
}
