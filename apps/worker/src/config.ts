import { CredentialsKeyEnv, type CredentialsKey } from '@closeloop/credentials';
import { GhlId, JOB_ATTEMPTS_CEILING } from '@closeloop/queue';
import {
  LogFormat,
  LogLevel,
  QueueEnv,
  blankAsUnset,
  envInteger,
  envKeyValueList,
  envPort,
  envString,
  envUrl,
  mapConfig,
  parseEnv,
  queueEnvProblems,
  redactRedisUrl,
  type ConfigResult,
  type Env,
} from '@closeloop/runtime';
import { z } from 'zod';

/** A bearer token: printable ASCII without spaces (anything else Node would refuse as a header value). */
const TOKEN_PROBLEM = 'must be printable ASCII without spaces (value not shown)';
const BearerToken = z.string().regex(/^[\x21-\x7e]+$/, TOKEN_PROBLEM);

/**
 * The worker's environment (docs/contracts.md plus the worker's own knobs). Every variable is
 * optional here; cross-variable rules (at least one credential source) are checked in `loadConfig`.
 */
/** `72h`, `30m`, `90s`, `3d`, or milliseconds; at least a second, at most 30 days. */
const Duration = z
  .string()
  .regex(/^\s*\d+\s*(ms|s|m|h|d)?\s*$/i, 'must be a duration such as 72h, 30m, 90s, 3d or milliseconds')
  .transform((value) => {
    const [, digits = '0', unit = 'ms'] = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(value) ?? [];
    const factor =
      { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit.toLowerCase() || 'ms'] ?? 1;
    return Number(digits) * factor;
  })
  .refine((ms) => ms >= 1_000 && ms <= 30 * 86_400_000, 'must be between 1s and 30d');

export const WorkerEnv = z.object({
  ...QueueEnv,
  GHL_BASE_URL: envUrl({ protocols: ['http', 'https'], default: 'https://services.leadconnectorhq.com' }),
  GHL_API_VERSION: envString({ default: '2021-07-28' }),
  GHL_TOKEN: envString(),
  GHL_LOCATION_ID: z.preprocess(blankAsUnset, GhlId.optional()),
  GHL_LOCATION_TOKENS: envKeyValueList({ key: GhlId, value: BearerToken, form: 'locationId=token' }),
  // The encrypted credential store (packages/credentials README): one or more base64 keys of 32 bytes.
  CREDENTIALS_KEY: z.preprocess(blankAsUnset, CredentialsKeyEnv.optional()),
  // The marketplace app, to refresh OAuth tokens and mint location tokens; both or neither (loadConfig).
  GHL_CLIENT_ID: envString(),
  GHL_CLIENT_SECRET: envString(),
  WORKER_CONCURRENCY: envInteger({ default: 50, min: 1, max: 1_000 }),
  // GHL calls in flight per location, across every worker process (rate-budget.ts): a location whose
  // calls are slow cannot take every slot. 10 is ten times what 100 requests per 10 s need at 100 ms a call.
  LOCATION_CONCURRENCY: envInteger({ default: 10, min: 1, max: 1_000 }),
  // Below the ceiling every job carries (JOB_ATTEMPTS_CEILING), so BullMQ never fails a job on its own
  // count before the worker has dead-lettered it.
  RETRY_ATTEMPTS: envInteger({ default: 8, min: 1, max: Math.min(100, JOB_ATTEMPTS_CEILING - 1) }),
  RETRY_BASE_MS: envInteger({ default: 1_000, min: 1, max: 3_600_000 }),
  RETRY_CAP_MS: envInteger({ default: 300_000, min: 1, max: 86_400_000 }),
  GHL_TIMEOUT_MS: envInteger({ default: 15_000, min: 100, max: 300_000 }),
  // How long a task stays fenced after a PUT whose outcome is unknown (docs/ordering.md): longer than
  // GHL could take to apply a request we gave up on. 2 min is 8× the client timeout and above the
  // 60 s idle timeout of common load balancers, after which a request still in flight is cut.
  AMBIGUOUS_HOLD_MS: envInteger({ default: 120_000, min: 0, max: 3_600_000 }),
  JOB_MAX_AGE: z.preprocess(blankAsUnset, Duration.default(72 * 60 * 60 * 1_000)),
  SHUTDOWN_TIMEOUT_MS: envInteger({ default: 25_000, min: 0, max: 3_600_000 }),
  LOCK_DURATION_MS: envInteger({ default: 30_000, min: 200, max: 600_000 }),
  STALLED_INTERVAL_MS: envInteger({ default: 30_000, min: 200, max: 600_000 }),
  RATE_LIMIT_PER_INTERVAL: envInteger({ default: 100, min: 1, max: 1_000_000 }),
  RATE_LIMIT_INTERVAL_MS: envInteger({ default: 10_000, min: 100, max: 86_400_000 }),
  METRICS_PORT: envPort({ default: 9464 }),
  // Every interface, unlike the receiver's admin listener: Prometheus scrapes the worker from another
  // host (or container), and /metrics and the probes carry no credentials and no personal data.
  METRICS_HOST: envString({ default: '0.0.0.0' }),
  LOG_LEVEL: LogLevel,
  LOG_FORMAT: LogFormat,
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
    /**
     * Used for jobs that name no location: GHL_LOCATION_ID, or the only location with an env token
     * when there is no credential store (with a store, other locations may exist).
     */
    defaultLocationId: string | undefined;
    /** CREDENTIALS_KEY: read every location without an env token from the encrypted store. Never log it. */
    credentialsKey?: CredentialsKey | undefined;
    /** GHL_CLIENT_ID + GHL_CLIENT_SECRET: refreshes OAuth records of the store. Never log the secret. */
    oauthApp?: { clientId: string; clientSecret: string } | undefined;
  };
  concurrency: number;
  /** LOCATION_CONCURRENCY: GHL calls in flight per location, across every worker. */
  locationConcurrency: number;
  retry: { attempts: number; baseMs: number; capMs: number };
  rateLimit: { perInterval: number; intervalMs: number };
  shutdownTimeoutMs: number;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** JOB_MAX_AGE: past it a job that keeps waiting dead-letters EXPIRED (failure-policy.ts). */
  jobMaxAgeMs: number;
  /** After a timeout, reset or 5xx on a PUT: no event for that task is written for this long (task-order-guard.ts). */
  ambiguousHoldMs: number;
  /** Where the worker serves /healthz, /readyz and /metrics. */
  metrics: { port: number; host: string };
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/**
 * Parses the environment once (in main.ts) and lists every problem, never a secret.
 *
 * Credentials, at least one source:
 * - single-location mode: GHL_TOKEN (a sub-account Private Integration Token) + GHL_LOCATION_ID
 *   (the location it belongs to). The location is required with the token because rate budgets and
 *   the token lookup are keyed by location, and a PIT sent for another location gets 403 anyway.
 * - agencies with many sub-accounts: GHL_LOCATION_TOKENS="locId1=token1 locId2=token2" (whitespace-
 *   separated; one PIT per sub-account). It may be combined with the two above.
 * - OAuth installs and tokens added with `closeloop locations add`: CREDENTIALS_KEY (the store's key),
 *   with GHL_CLIENT_ID + GHL_CLIENT_SECRET to refresh OAuth tokens. Combines with the two above, which
 *   win for their locations (credentials.ts says why).
 * A job whose location has no token is dead-lettered NO_CREDENTIALS without calling GHL.
 */
export function loadConfig(env: Env): ConfigResult<WorkerConfig> {
  const credentials = readCredentials(env);
  const result = parseEnv(WorkerEnv, env, (vars) => [
    ...queueEnvProblems(env),
    ...credentials.problems,
    ...(vars && vars.RETRY_BASE_MS > vars.RETRY_CAP_MS
      ? ['RETRY_BASE_MS: must not be greater than RETRY_CAP_MS']
      : []),
  ]);
  const locations = Object.keys(credentials.tokens);
  return mapConfig(result, (vars) => ({
    redisUrl: vars.REDIS_URL,
    queuePrefix: vars.QUEUE_PREFIX,
    ghl: {
      baseUrl: vars.GHL_BASE_URL,
      apiVersion: vars.GHL_API_VERSION,
      timeoutMs: vars.GHL_TIMEOUT_MS,
      tokens: credentials.tokens,
      defaultLocationId:
        vars.GHL_LOCATION_ID ??
        (locations.length === 1 && vars.CREDENTIALS_KEY === undefined ? locations[0] : undefined),
      credentialsKey: vars.CREDENTIALS_KEY,
      oauthApp:
        vars.GHL_CLIENT_ID !== undefined && vars.GHL_CLIENT_SECRET !== undefined
          ? { clientId: vars.GHL_CLIENT_ID, clientSecret: vars.GHL_CLIENT_SECRET }
          : undefined,
    },
    concurrency: vars.WORKER_CONCURRENCY,
    locationConcurrency: vars.LOCATION_CONCURRENCY,
    retry: { attempts: vars.RETRY_ATTEMPTS, baseMs: vars.RETRY_BASE_MS, capMs: vars.RETRY_CAP_MS },
    rateLimit: { perInterval: vars.RATE_LIMIT_PER_INTERVAL, intervalMs: vars.RATE_LIMIT_INTERVAL_MS },
    shutdownTimeoutMs: vars.SHUTDOWN_TIMEOUT_MS,
    lockDurationMs: vars.LOCK_DURATION_MS,
    stalledIntervalMs: vars.STALLED_INTERVAL_MS,
    ambiguousHoldMs: vars.AMBIGUOUS_HOLD_MS,
    jobMaxAgeMs: vars.JOB_MAX_AGE,
    metrics: { port: vars.METRICS_PORT, host: vars.METRICS_HOST },
    logLevel: vars.LOG_LEVEL,
    logFormat: vars.LOG_FORMAT,
  }));
}

/**
 * The token per location from GHL_TOKEN + GHL_LOCATION_ID and GHL_LOCATION_TOKENS, with the problems
 * that involve more than one variable. Read from the raw variables, so the problems are listed even
 * when another variable is wrong (a malformed GHL_LOCATION_TOKENS entry is the schema's problem).
 */
function readCredentials(env: Env): { tokens: Record<string, string>; problems: string[] } {
  const problems: string[] = [];
  const token = WorkerEnv.shape.GHL_TOKEN.parse(env.GHL_TOKEN);
  const locationId = blankAsUnset(env.GHL_LOCATION_ID) as string | undefined;
  const listGiven = blankAsUnset(env.GHL_LOCATION_TOKENS) !== undefined;
  const listed = WorkerEnv.shape.GHL_LOCATION_TOKENS.safeParse(env.GHL_LOCATION_TOKENS);
  const tokens: Record<string, string> = listed.success ? { ...listed.data } : {};
  // Whether the key is valid is the schema's problem; here only whether a store is meant to be read.
  const storeGiven = blankAsUnset(env.CREDENTIALS_KEY) !== undefined;
  const clientIdGiven = blankAsUnset(env.GHL_CLIENT_ID) !== undefined;
  const clientSecretGiven = blankAsUnset(env.GHL_CLIENT_SECRET) !== undefined;

  if (token !== undefined) {
    const tokenValid = BearerToken.safeParse(token).success;
    if (!tokenValid) problems.push(`GHL_TOKEN: ${TOKEN_PROBLEM}`);
    if (locationId === undefined) {
      problems.push('GHL_LOCATION_ID: required with GHL_TOKEN (the location the token belongs to)');
    } else if (tokenValid) {
      if (tokens[locationId] !== undefined && tokens[locationId] !== token) {
        problems.push(
          `GHL_LOCATION_TOKENS: location ${locationId} is given two different tokens (one in GHL_TOKEN)`,
        );
      }
      tokens[locationId] = token;
    }
  }
  if (token === undefined && !listGiven && !storeGiven) {
    problems.push(
      'GHL credentials: set GHL_TOKEN and GHL_LOCATION_ID (one sub-account), GHL_LOCATION_TOKENS="locationId=token …" (several), or CREDENTIALS_KEY (the credential store)',
    );
  }
  if (clientIdGiven !== clientSecretGiven) {
    problems.push(
      `${clientIdGiven ? 'GHL_CLIENT_SECRET' : 'GHL_CLIENT_ID'}: required with ${clientIdGiven ? 'GHL_CLIENT_ID' : 'GHL_CLIENT_SECRET'} (the marketplace app that refreshes OAuth tokens)`,
    );
  }
  if (clientIdGiven && !storeGiven) {
    problems.push('CREDENTIALS_KEY: required with GHL_CLIENT_ID (OAuth tokens live in the credential store)');
  }
  // With a store, GHL_LOCATION_ID may name a location whose credentials are stored there.
  if (
    token === undefined &&
    !storeGiven &&
    locationId !== undefined &&
    listed.success &&
    listGiven &&
    !tokens[locationId]
  ) {
    problems.push(`GHL_LOCATION_ID: location ${locationId} has no token in GHL_LOCATION_TOKENS`);
  }
  return { tokens, problems };
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
    // Whether they are set, never the key, the client id or the secret.
    credentialStore: config.ghl.credentialsKey !== undefined,
    oauthRefresh: config.ghl.oauthApp !== undefined,
    concurrency: config.concurrency,
    retry: config.retry,
    rateLimit: config.rateLimit,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    lockDurationMs: config.lockDurationMs,
    stalledIntervalMs: config.stalledIntervalMs,
    metrics: config.metrics,
  };
}
