import { isReauthRequiredError } from '@closeloop/credentials';
import { GhlError, type GhlErrorCode, type RateLimitState } from '@closeloop/ghl';
import type { DeadLetterMatch, DeadLetterReason } from '@closeloop/queue';

/**
 * The failure policy (docs/failure-policy.md): the only place that turns what happened to a job into what BullMQ
 * does next. Pure: time and randomness come in through the context, so every row is unit-tested.
 * For GHL's answers it reads the client's verdict (`GhlError.retryable`) and its code; a Decision
 * carries everything the executor needs (log level, how long to hold the location back, the dead
 * letter's http), so the executor carries it out without looking at reasons again.
 *
 * | outcome                                      | decision                                                   |
 * | -------------------------------------------- | ---------------------------------------------------------- |
 * | GHL 200                                      | done                                                       |
 * | GHL 429                                      | delay as GHL says + jitter; no attempt spent               |
 * | own per-location budget spent, task busy     | delay until the budget/lock frees + jitter; no attempt     |
 * | call cut off by a forced shutdown (ABORTED)  | delay 0 (back to the queue); no attempt spent              |
 * | 5xx, 408, timeout, connection error, other   | retry, full-jitter backoff, until RETRY_ATTEMPTS; then     |
 * |                                              | dead-letter RETRIES_EXHAUSTED                              |
 * | 400 / 403 / 404 / 422                        | dead-letter GHL_BAD_REQUEST / _FORBIDDEN / _NOT_FOUND /    |
 * |                                              | _UNPROCESSABLE with GHL's status and body                  |
 * | 401                                          | dead-letter GHL_UNAUTHORIZED, logged as an error           |
 * | the location's OAuth grant is gone            | delay REAUTH_WAIT_MS + jitter (REAUTH_REQUIRED); no attempt |
 * | (ReauthRequiredError, also after a 401)      | spent; at JOB_MAX_AGE dead-letter GHL_REAUTH_REQUIRED      |
 * | no token for the location                    | dead-letter NO_CREDENTIALS, logged as an error             |
 * | an id the client refuses to send             | dead-letter INVALID_JOB                                    |
 * | 2xx not matching the schema                  | dead-letter GHL_BAD_RESPONSE                               |
 * | job data not a v1 TaskUpdateJob              | dead-letter INVALID_JOB                                    |
 * | job stalled more than MAX_STALLS times       | dead-letter STALLED_REPEATEDLY                             |
 * | a wait that would end past JOB_MAX_AGE       | dead-letter EXPIRED (GHL_REAUTH_REQUIRED when waiting for a |
 * |                                              | reconnection), with what it waited for                     |
 * | no task found for the ticket / several       | dead-letter NO_MATCH / AMBIGUOUS_MATCH with what was       |
 * |                                              | searched and the candidates                                |
 */

export interface RetrySettings {
  /** RETRY_ATTEMPTS: attempts in all, the first included (default 8). */
  attempts: number;
  /** RETRY_BASE_MS (default 1 000). */
  baseMs: number;
  /** RETRY_CAP_MS (default 300 000). */
  capMs: number;
}

export type Outcome =
  | { kind: 'success' }
  | { kind: 'invalid-job'; message: string }
  /** The job names no location and none is configured as the default: no token can be chosen. */
  | { kind: 'no-location'; message: string }
  | { kind: 'stalled-repeatedly'; stalls: number }
  /** The worker's own per-location budget (shared by all worker processes) is spent. */
  | { kind: 'rate-budget-spent'; msBeforeNext: number; reserved?: boolean }
  /** Another job is applying an event to the same task right now (ordering guard). */
  | { kind: 'task-busy'; msBeforeNext: number }
  /** The event names no task ids and the lookup found none for its ticket (task-matcher.ts). */
  | { kind: 'no-match'; match: DeadLetterMatch }
  /** …or found several, and cannot choose. */
  | { kind: 'ambiguous-match'; match: DeadLetterMatch }
  | { kind: 'failed'; error: unknown };

export type DelayReason =
  | 'GHL_RATE_LIMITED'
  | 'GHL_DAILY_LIMIT'
  | 'RATE_BUDGET'
  | 'TASK_BUSY'
  | 'SHUTDOWN'
  /** The location's OAuth grant is gone (invalid_grant, uninstall): its jobs wait for a reconnection. */
  | 'REAUTH_REQUIRED';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Decision =
  | { kind: 'done' }
  /** `job.moveToDelayed(untilMs)` + DelayedError: no attempt is spent. */
  | {
      kind: 'delay';
      untilMs: number;
      reason: DelayReason;
      /** After GHL's own 429: hold every worker back from the job's location this long. */
      holdLocationMs?: number;
      logLevel: LogLevel;
    }
  /** Rethrow: BullMQ counts the attempt and asks `retryDelayMs` (Worker settings.backoffStrategy) when. */
  | { kind: 'retry'; code: string }
  | {
      kind: 'dead-letter';
      reason: DeadLetterReason;
      http?: { status: number; body: unknown };
      /** NO_MATCH / AMBIGUOUS_MATCH: what was searched and found, kept in the dead letter. */
      match?: DeadLetterMatch;
      /** EXPIRED / GHL_REAUTH_REQUIRED: what the job was waiting for when it ran out of time. */
      waitingFor?: DelayReason;
      /** 'error' for what an operator must fix (credentials, GHL changed, GHL down for hours). */
      logLevel: 'warn' | 'error';
    };

export interface PolicyContext {
  /** Attempts already spent before this one (BullMQ `job.attemptsMade`; delays do not count). */
  attemptsMade: number;
  /**
   * The job's own `attempts` option. Jobs from our producer carry JOB_ATTEMPTS_CEILING; a job added
   * by hand with fewer must still be dead-lettered by us, not failed silently by BullMQ first.
   */
  jobAttempts: number | undefined;
  retry: RetrySettings;
  now: number;
  random: () => number;
  /** When the job was added (BullMQ `job.timestamp`; a replay adds it anew). */
  addedAt: number;
  /** JOB_MAX_AGE: a job that would still be waiting past this age is dead-lettered instead. */
  maxAgeMs: number;
}

/** A job that stalled (its worker died or lost the lock) more often than this is parked, not run again. */
export const MAX_STALLS = 3;

/** GHL's documented burst window (docs/ghl-api.md), used when a 429 carries no interval header. */
export const DEFAULT_BURST_INTERVAL_MS = 10_000;

/**
 * After a 429 with the daily budget spent (`X-RateLimit-Daily-Remaining: 0`) the job waits until the
 * next UTC midnight, but at most this long. GHL documents "200,000 per day" without saying when the
 * day resets (the sandbox uses the UTC day); probing once an hour costs at most one interval's budget
 * of 429s per location and finds a reset at any other time of day within an hour instead of up to 24 h.
 */
export const DAILY_LIMIT_PROBE_MS = 60 * 60 * 1_000;

/**
 * How long a job of a location that must be reconnected waits before it looks again. Reconnecting is
 * a person installing the app again, minutes at the soonest; each look is one Redis read (the
 * provider does not call GHL for a marked location), so 5 min finds a reconnection soon enough
 * without cycling a large backlog.
 */
export const REAUTH_WAIT_MS = 5 * 60 * 1_000;

/** An upper bound on a `Retry-After` we obey; anything longer is treated as this. */
export const MAX_RETRY_AFTER_MS = 24 * 60 * 60 * 1_000;

export function decide(outcome: Outcome, context: PolicyContext): Decision {
  const decision = decideOutcome(outcome, context);
  return decision.kind === 'delay' ? expireIfTooOld(decision, context) : decision;
}

/**
 * Nothing waits forever: a 429 spends no attempt, so a location that always answers 429 (or whose
 * grant is gone) would cycle its jobs without end. A job whose wait would end past JOB_MAX_AGE is
 * dead-lettered EXPIRED (GHL_REAUTH_REQUIRED while waiting for a reconnection) with what it waited for.
 * A forced shutdown's requeue is exempt: it is no wait of the job's own.
 */
function expireIfTooOld(decision: Extract<Decision, { kind: 'delay' }>, context: PolicyContext): Decision {
  if (decision.reason === 'SHUTDOWN' || decision.untilMs - context.addedAt <= context.maxAgeMs)
    return decision;
  return {
    kind: 'dead-letter',
    reason: decision.reason === 'REAUTH_REQUIRED' ? 'GHL_REAUTH_REQUIRED' : 'EXPIRED',
    waitingFor: decision.reason,
    // packages/credentials logs the reconnection as an error once per location (README "What is
    // logged"); one more error per job would bury it under a backlog's worth of the same line.
    logLevel: decision.reason === 'REAUTH_REQUIRED' ? 'warn' : 'error',
  };
}

function decideOutcome(outcome: Outcome, context: PolicyContext): Decision {
  switch (outcome.kind) {
    case 'success':
      return { kind: 'done' };
    case 'invalid-job':
      return { kind: 'dead-letter', reason: 'INVALID_JOB', logLevel: 'warn' };
    case 'no-location':
      return { kind: 'dead-letter', reason: 'NO_CREDENTIALS', logLevel: 'error' };
    case 'stalled-repeatedly':
      return { kind: 'dead-letter', reason: 'STALLED_REPEATEDLY', logLevel: 'error' };
    case 'no-match':
      return { kind: 'dead-letter', reason: 'NO_MATCH', match: outcome.match, logLevel: 'warn' };
    case 'ambiguous-match':
      return { kind: 'dead-letter', reason: 'AMBIGUOUS_MATCH', match: outcome.match, logLevel: 'warn' };
    case 'rate-budget-spent':
      // A reserved slot is the job's own (rate-budget.ts): it comes back exactly then, no jitter,
      // since slots are already spread one by one.
      if (outcome.reserved) {
        return {
          kind: 'delay',
          untilMs: context.now + Math.max(0, outcome.msBeforeNext),
          reason: 'RATE_BUDGET',
          logLevel: 'info',
        };
      }
      return delay(outcome.msBeforeNext, 'RATE_BUDGET', 'info', context);
    case 'task-busy':
      return delay(outcome.msBeforeNext, 'TASK_BUSY', 'info', context);
    case 'failed':
      return decideFailure(outcome.error, context);
  }
}

/**
 * GHL's permanent refusals and the client's "not sent" verdicts: the dead letter each one gets.
 * Keyed by every non-retryable code, so a new code in packages/ghl fails the type check here.
 */
const PERMANENT_FAILURES: Record<
  Exclude<GhlErrorCode, RetryableCode>,
  { reason: DeadLetterReason; logLevel: 'warn' | 'error' }
> = {
  BAD_REQUEST: { reason: 'GHL_BAD_REQUEST', logLevel: 'warn' },
  // GHL refused the token. An OAuth provider has already refreshed and retried once inside the
  // client (packages/ghl README), so a 401 here is final: a bad token must be visible.
  UNAUTHORIZED: { reason: 'GHL_UNAUTHORIZED', logLevel: 'error' },
  // GHL answers 403 to a token of another location (docs/ghl-api.md): a configuration error.
  FORBIDDEN: { reason: 'GHL_FORBIDDEN', logLevel: 'error' },
  NOT_FOUND: { reason: 'GHL_NOT_FOUND', logLevel: 'warn' },
  UNPROCESSABLE: { reason: 'GHL_UNPROCESSABLE', logLevel: 'warn' },
  BAD_RESPONSE: { reason: 'GHL_BAD_RESPONSE', logLevel: 'error' },
  NO_CREDENTIALS: { reason: 'NO_CREDENTIALS', logLevel: 'error' },
  // The job's ids passed the job schema, so this is data the client cannot put in a path.
  INVALID_REQUEST: { reason: 'INVALID_JOB', logLevel: 'warn' },
};
type RetryableCode = 'RATE_LIMITED' | 'SERVER_ERROR' | 'TIMEOUT' | 'NETWORK' | 'ABORTED';

function decideFailure(error: unknown, context: PolicyContext): Decision {
  // The grant is gone: nothing is wrong with the job, and no attempt can help until the app is
  // installed again, so it waits without spending an attempt. packages/ghl passes the provider's
  // ReauthRequiredError through unchanged, from getToken and from onUnauthorized (apps/worker
  // credentials.ts turns a 401 of a location just marked needs-reauth into one).
  if (isReauthRequiredError(error)) return delay(REAUTH_WAIT_MS, 'REAUTH_REQUIRED', 'warn', context);
  // Anything that is not GHL's answer (Redis hiccup, an OAuth store that cannot be reached, a bug)
  // may pass: retried within the same bounded budget as a 5xx.
  if (!(error instanceof GhlError)) return retryOrExhausted(context, errorName(error), undefined);
  const http = error.status === undefined ? undefined : { status: error.status, body: error.body };
  if (error.retryable) {
    if (error.code === 'RATE_LIMITED') {
      const wait = rateLimitWait(error.rateLimit, context.now);
      return {
        ...delay(wait.waitMs, wait.reason, 'warn', context),
        holdLocationMs: Math.max(0, wait.waitMs),
      };
    }
    if (error.code === 'ABORTED') {
      // Cut off by a forced shutdown: back to the queue at once for another worker. The PUT may have
      // reached GHL, and repeating it is harmless (idempotent; the ordering guard was not raised).
      return { kind: 'delay', untilMs: context.now, reason: 'SHUTDOWN', logLevel: 'warn' };
    }
    return retryOrExhausted(context, error.code, http);
  }
  const permanent = PERMANENT_FAILURES[error.code as Exclude<GhlErrorCode, RetryableCode>];
  // A code the client calls permanent but this table does not know yet: dead-lettered loudly.
  const { reason, logLevel } = permanent ?? { reason: 'GHL_BAD_RESPONSE', logLevel: 'error' };
  return { kind: 'dead-letter', reason, logLevel, ...(http && { http }) };
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** `http`: the last answer GHL gave (a 5xx), kept in the dead letter; absent for timeouts and resets. */
function retryOrExhausted(
  context: PolicyContext,
  code: string,
  http: { status: number; body: unknown } | undefined,
): Decision {
  const allowed = Math.min(context.retry.attempts, context.jobAttempts ?? Number.POSITIVE_INFINITY);
  if (context.attemptsMade + 1 >= allowed) {
    return { kind: 'dead-letter', reason: 'RETRIES_EXHAUSTED', logLevel: 'error', ...(http && { http }) };
  }
  return { kind: 'retry', code };
}

function delay(
  waitMs: number,
  reason: DelayReason,
  logLevel: LogLevel,
  context: PolicyContext,
): Extract<Decision, { kind: 'delay' }> {
  const wait = Math.max(0, waitMs);
  return { kind: 'delay', untilMs: context.now + wait + jitterMs(wait, context.random), reason, logLevel };
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * a random delay in [0, min(cap, base·2^(n-1))] after the n-th failed attempt. Full jitter spreads
 * the retries of many jobs that failed together (a GHL outage) instead of sending them back in waves.
 * This is the Worker's `settings.backoffStrategy`; BullMQ calls it with the attempts made so far,
 * this one included (job.js `shouldRetryJob`).
 */
export function retryDelayMs(attemptsMade: number, retry: RetrySettings, random: () => number): number {
  const exponent = Math.max(0, attemptsMade - 1);
  const ceiling = Math.min(retry.capMs, retry.baseMs * 2 ** exponent);
  return Math.floor(random() * ceiling);
}

/**
 * How long GHL wants us to wait after a 429, from the response's headers (packages/ghl parses them):
 * Retry-After when present (not documented by GHL, but exact when a proxy sends it); else, when the
 * daily budget is spent, until the next UTC midnight (at most DAILY_LIMIT_PROBE_MS); else one burst
 * interval. GHL does not say when its burst window started, so a full `X-RateLimit-Interval-Milliseconds`
 * is the only wait that is sure to reach the next window — whether `Remaining` is 0 or not.
 */
export function rateLimitWait(
  rateLimit: RateLimitState,
  now: number,
): { waitMs: number; reason: 'GHL_RATE_LIMITED' | 'GHL_DAILY_LIMIT' } {
  if (rateLimit.retryAfterMs !== undefined) {
    return { waitMs: Math.min(rateLimit.retryAfterMs, MAX_RETRY_AFTER_MS), reason: 'GHL_RATE_LIMITED' };
  }
  if (rateLimit.dailyRemaining === 0) {
    return { waitMs: Math.min(msUntilNextUtcMidnight(now), DAILY_LIMIT_PROBE_MS), reason: 'GHL_DAILY_LIMIT' };
  }
  return { waitMs: rateLimit.intervalMs ?? DEFAULT_BURST_INTERVAL_MS, reason: 'GHL_RATE_LIMITED' };
}

/**
 * Added to every delay so that jobs held back together (all of one location's jobs at a 429, or a
 * spent budget) do not come back in the same millisecond and collide again: up to a fifth of the
 * wait, at least 250 ms and at most 30 s of spread.
 */
export function jitterMs(waitMs: number, random: () => number): number {
  const spread = Math.min(30_000, Math.max(250, waitMs * 0.2));
  return Math.floor(random() * spread);
}

export function msUntilNextUtcMidnight(now: number): number {
  const date = new Date(now);
  const midnight = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1);
  return midnight - now;
}
