import { describe, expect, it } from '@jest/globals';
import { GhlError, type GhlErrorCode, type RateLimitState } from '@closeloop/ghl';
import {
  DAILY_LIMIT_PROBE_MS,
  DEFAULT_BURST_INTERVAL_MS,
  MAX_RETRY_AFTER_MS,
  decide,
  jitterMs,
  msUntilNextUtcMidnight,
  rateLimitWait,
  retryDelayMs,
  type PolicyContext,
} from '../src/failure-policy.js';

const NOW = Date.parse('2026-11-28T10:00:00.000Z');
const RETRY = { attempts: 8, baseMs: 1_000, capMs: 300_000 };

function context(overrides: Partial<PolicyContext> = {}): PolicyContext {
  return {
    attemptsMade: 0,
    jobAttempts: 1_000,
    retry: RETRY,
    now: NOW,
    random: () => 0,
    addedAt: NOW - 60_000,
    maxAgeMs: MAX_AGE_MS,
    ...overrides,
  };
}

const MAX_AGE_MS = 72 * 60 * 60 * 1_000;

function ghlError(
  code: GhlErrorCode,
  status?: number,
  body?: Record<string, unknown>,
  rateLimit: RateLimitState = {},
): GhlError {
  return new GhlError({
    code,
    message: `GHL PUT /contacts/c/tasks/t/completed answered ${status ?? '-'} (${code})`,
    method: 'PUT',
    path: '/contacts/c/tasks/t/completed',
    status,
    body,
    rateLimit,
  });
}

const failed = (error: unknown) => ({ kind: 'failed', error }) as const;

describe('failure policy: 200', () => {
  it('When GHL answered 200, then the job is done', () => {
    expect(decide({ kind: 'success' }, context())).toEqual({ kind: 'done' });
  });
});

describe('failure policy: 429 delays without spending an attempt', () => {
  it('When the 429 carries Retry-After, then the job waits exactly that long plus jitter', () => {
    const error = ghlError('RATE_LIMITED', 429, undefined, {
      retryAfterMs: 2_000,
      remaining: 0,
      intervalMs: 10_000,
    });
    expect(decide(failed(error), context())).toEqual({
      kind: 'delay',
      untilMs: NOW + 2_000,
      reason: 'GHL_RATE_LIMITED',
      logLevel: 'warn',
      holdLocationMs: 2_000,
    });
    // Full jitter on top: a fifth of the wait at most (at least 250 ms of spread).
    expect(decide(failed(error), context({ random: () => 0.999_999 }))).toEqual({
      kind: 'delay',
      untilMs: NOW + 2_000 + 399,
      reason: 'GHL_RATE_LIMITED',
      logLevel: 'warn',
      holdLocationMs: 2_000,
    });
  });

  it('When the burst budget is spent (Remaining 0) and there is no Retry-After, then the job waits one X-RateLimit-Interval-Milliseconds', () => {
    const error = ghlError('RATE_LIMITED', 429, undefined, {
      remaining: 0,
      intervalMs: 10_000,
      dailyRemaining: 5,
    });
    expect(decide(failed(error), context())).toEqual({
      kind: 'delay',
      untilMs: NOW + 10_000,
      reason: 'GHL_RATE_LIMITED',
      logLevel: 'warn',
      holdLocationMs: 10_000,
    });
  });

  it('When the 429 says Remaining > 0, then the job still waits one interval (GHL does not say when its window started)', () => {
    const error = ghlError('RATE_LIMITED', 429, undefined, { remaining: 3, intervalMs: 4_000 });
    expect(decide(failed(error), context())).toMatchObject({ kind: 'delay', untilMs: NOW + 4_000 });
  });

  it('When the 429 carries no rate-limit headers at all, then the job waits the documented 10 s burst window', () => {
    expect(decide(failed(ghlError('RATE_LIMITED', 429)), context())).toEqual({
      kind: 'delay',
      untilMs: NOW + DEFAULT_BURST_INTERVAL_MS,
      reason: 'GHL_RATE_LIMITED',
      logLevel: 'warn',
      holdLocationMs: DEFAULT_BURST_INTERVAL_MS,
    });
  });

  it('When the daily budget is spent, then the job waits until the next UTC midnight, probing at least hourly', () => {
    const error = ghlError('RATE_LIMITED', 429, undefined, {
      remaining: 50,
      intervalMs: 10_000,
      dailyRemaining: 0,
    });
    expect(decide(failed(error), context())).toEqual({
      kind: 'delay',
      untilMs: NOW + DAILY_LIMIT_PROBE_MS,
      reason: 'GHL_DAILY_LIMIT',
      logLevel: 'warn',
      holdLocationMs: DAILY_LIMIT_PROBE_MS,
    });
    const lateEvening = Date.parse('2026-11-28T23:40:00.000Z');
    expect(rateLimitWait({ dailyRemaining: 0 }, lateEvening)).toEqual({
      waitMs: 20 * 60 * 1_000,
      reason: 'GHL_DAILY_LIMIT',
    });
  });

  it('When a 429 arrives after many failed attempts, then it still delays (a 429 never exhausts the retries)', () => {
    const error = ghlError('RATE_LIMITED', 429, undefined, { intervalMs: 10_000 });
    expect(decide(failed(error), context({ attemptsMade: 7 }))).toMatchObject({ kind: 'delay' });
  });

  it('When Retry-After is absurdly long, then it is capped', () => {
    expect(rateLimitWait({ retryAfterMs: 10 * MAX_RETRY_AFTER_MS }, NOW).waitMs).toBe(MAX_RETRY_AFTER_MS);
  });

  it("When the worker's own budget is spent, then the job waits until it refills plus jitter", () => {
    expect(
      decide({ kind: 'rate-budget-spent', msBeforeNext: 1_500 }, context({ random: () => 0.5 })),
    ).toEqual({
      kind: 'delay',
      untilMs: NOW + 1_500 + 150,
      reason: 'RATE_BUDGET',
      logLevel: 'info',
    });
  });

  it('When another job holds the task, then the job waits briefly without spending an attempt', () => {
    expect(decide({ kind: 'task-busy', msBeforeNext: 500 }, context())).toEqual({
      kind: 'delay',
      untilMs: NOW + 500,
      reason: 'TASK_BUSY',
      logLevel: 'info',
    });
  });

  it('When shutdown cancelled the call (ABORTED), then the job goes back to the queue at once without spending an attempt', () => {
    expect(decide(failed(ghlError('ABORTED')), context({ attemptsMade: 7 }))).toEqual({
      kind: 'delay',
      untilMs: NOW,
      reason: 'SHUTDOWN',
      logLevel: 'warn',
    });
  });
});

describe('failure policy: transient failures are retried, then dead-lettered RETRIES_EXHAUSTED', () => {
  it.each([
    ['5xx', ghlError('SERVER_ERROR', 503, { statusCode: 503, message: 'Service Unavailable' })],
    ['500', ghlError('SERVER_ERROR', 500)],
    ['408', ghlError('TIMEOUT', 408)],
    ['a timeout', ghlError('TIMEOUT')],
    ['a connection error', ghlError('NETWORK')],
    ["an error that is not GHL's (e.g. Redis)", new Error('Connection is closed.')],
  ])('When the call failed with %s before the last attempt, then it is retried', (_label, error) => {
    const code = error instanceof GhlError ? error.code : 'Error';
    expect(decide(failed(error), context({ attemptsMade: 0 }))).toEqual({ kind: 'retry', code });
    expect(decide(failed(error), context({ attemptsMade: 6 }))).toEqual({ kind: 'retry', code });
  });

  it('When the RETRY_ATTEMPTS-th attempt fails, then the job is dead-lettered RETRIES_EXHAUSTED with the last answer', () => {
    const error = ghlError('SERVER_ERROR', 503, { statusCode: 503, message: 'down' });
    expect(decide(failed(error), context({ attemptsMade: 7 }))).toEqual({
      kind: 'dead-letter',
      reason: 'RETRIES_EXHAUSTED',
      logLevel: 'error',
      http: { status: 503, body: { statusCode: 503, message: 'down' } },
    });
    expect(decide(failed(ghlError('TIMEOUT')), context({ attemptsMade: 7 }))).toEqual({
      kind: 'dead-letter',
      reason: 'RETRIES_EXHAUSTED',
      logLevel: 'error',
    });
  });

  it('When RETRY_ATTEMPTS is 3, then the third failure is the last', () => {
    const retry = { ...RETRY, attempts: 3 };
    expect(decide(failed(ghlError('NETWORK')), context({ retry, attemptsMade: 1 }))).toEqual({
      kind: 'retry',
      code: 'NETWORK',
    });
    expect(decide(failed(ghlError('NETWORK')), context({ retry, attemptsMade: 2 }))).toMatchObject({
      kind: 'dead-letter',
      reason: 'RETRIES_EXHAUSTED',
    });
  });

  it('When a job was added with fewer attempts than RETRY_ATTEMPTS, then the worker dead-letters it before BullMQ would fail it silently', () => {
    expect(decide(failed(ghlError('NETWORK')), context({ jobAttempts: 1 }))).toMatchObject({
      kind: 'dead-letter',
      reason: 'RETRIES_EXHAUSTED',
    });
  });
});

describe('failure policy: permanent refusals are dead-lettered at once', () => {
  it.each([
    ['BAD_REQUEST', 400, 'GHL_BAD_REQUEST', 'warn'],
    ['FORBIDDEN', 403, 'GHL_FORBIDDEN', 'error'],
    ['NOT_FOUND', 404, 'GHL_NOT_FOUND', 'warn'],
    ['UNPROCESSABLE', 422, 'GHL_UNPROCESSABLE', 'warn'],
    ['BAD_REQUEST', 409, 'GHL_BAD_REQUEST', 'warn'],
  ] as const)(
    "When GHL answers %s (%i), then the job is dead-lettered %s with GHL's status and body",
    (code, status, reason, logLevel) => {
      const body = { statusCode: status, message: ['completed must be a boolean value'], error: 'x' };
      expect(decide(failed(ghlError(code, status, body)), context())).toEqual({
        kind: 'dead-letter',
        reason,
        logLevel,
        http: { status, body },
      });
    },
  );

  it('When GHL answers 401, then the job is dead-lettered GHL_UNAUTHORIZED as an error (a bad token must be visible)', () => {
    const body = { statusCode: 401, message: 'Invalid JWT' };
    expect(decide(failed(ghlError('UNAUTHORIZED', 401, body)), context())).toEqual({
      kind: 'dead-letter',
      reason: 'GHL_UNAUTHORIZED',
      logLevel: 'error',
      http: { status: 401, body },
    });
  });

  it('When there is no token for the location (nothing sent), then the job is dead-lettered NO_CREDENTIALS as an error', () => {
    expect(decide(failed(ghlError('NO_CREDENTIALS')), context())).toEqual({
      kind: 'dead-letter',
      reason: 'NO_CREDENTIALS',
      logLevel: 'error',
    });
    expect(decide({ kind: 'no-location', message: 'no default' }, context())).toEqual({
      kind: 'dead-letter',
      reason: 'NO_CREDENTIALS',
      logLevel: 'error',
    });
  });

  it("When GHL's 2xx does not match the schema, then the job is dead-lettered GHL_BAD_RESPONSE", () => {
    expect(decide(failed(ghlError('BAD_RESPONSE', 200)), context())).toEqual({
      kind: 'dead-letter',
      reason: 'GHL_BAD_RESPONSE',
      logLevel: 'error',
      http: { status: 200, body: undefined },
    });
  });

  it('When the job data is invalid, then the job is dead-lettered INVALID_JOB', () => {
    expect(decide({ kind: 'invalid-job', message: 'v: expected 1' }, context())).toEqual({
      kind: 'dead-letter',
      reason: 'INVALID_JOB',
      logLevel: 'warn',
    });
  });

  it('When the client refuses to send an id (INVALID_REQUEST), then the job is dead-lettered INVALID_JOB', () => {
    expect(decide(failed(ghlError('INVALID_REQUEST')), context())).toEqual({
      kind: 'dead-letter',
      reason: 'INVALID_JOB',
      logLevel: 'warn',
    });
  });

  it('When the client calls a failure retryable, then the policy retries it whatever the code, and when not, never', () => {
    const retryableServerError = ghlError('SERVER_ERROR', 503);
    expect(retryableServerError.retryable).toBe(true);
    expect(decide(failed(retryableServerError), context())).toMatchObject({ kind: 'retry' });
    for (const code of [
      'BAD_REQUEST',
      'UNAUTHORIZED',
      'FORBIDDEN',
      'NOT_FOUND',
      'UNPROCESSABLE',
      'BAD_RESPONSE',
      'NO_CREDENTIALS',
      'INVALID_REQUEST',
    ] as const) {
      expect(decide(failed(ghlError(code)), context())).toMatchObject({ kind: 'dead-letter' });
    }
  });

  it('When the job stalled too often, then it is dead-lettered STALLED_REPEATEDLY', () => {
    expect(decide({ kind: 'stalled-repeatedly', stalls: 4 }, context())).toMatchObject({
      kind: 'dead-letter',
      reason: 'STALLED_REPEATEDLY',
    });
  });
});

describe('failure policy: backoff and jitter', () => {
  it('When the n-th attempt failed, then the retry delay is full jitter in [0, min(cap, base·2^(n-1))]', () => {
    expect(retryDelayMs(1, RETRY, () => 0.999_999)).toBe(999);
    expect(retryDelayMs(2, RETRY, () => 0.999_999)).toBe(1_999);
    expect(retryDelayMs(4, RETRY, () => 0.5)).toBe(4_000);
    expect(retryDelayMs(1, RETRY, () => 0)).toBe(0);
    // 2^9 s = 512 s is above the 5 min cap.
    expect(retryDelayMs(10, RETRY, () => 0.999_999)).toBe(299_999);
    expect(retryDelayMs(5_000, RETRY, () => 0.5)).toBe(150_000);
  });

  it('When many delays are drawn, then they spread over the whole range', () => {
    const draws = Array.from({ length: 2_000 }, () => retryDelayMs(3, RETRY, Math.random));
    expect(Math.min(...draws)).toBeLessThan(400);
    expect(Math.max(...draws)).toBeGreaterThan(3_600);
    expect(Math.max(...draws)).toBeLessThan(4_000);
  });

  it('When a wait is jittered, then the spread is a fifth of it, between 250 ms and 30 s', () => {
    expect(jitterMs(100, () => 0.999_999)).toBe(249);
    expect(jitterMs(10_000, () => 0.5)).toBe(1_000);
    expect(jitterMs(3_600_000, () => 0.999_999)).toBe(29_999);
  });

  it('When it is 10:00 UTC, then the next UTC midnight is 14 h away', () => {
    expect(msUntilNextUtcMidnight(NOW)).toBe(14 * 60 * 60 * 1_000);
  });
});

describe('failure policy: nothing waits forever (JOB_MAX_AGE)', () => {
  const old = { addedAt: NOW - MAX_AGE_MS + 5_000 };
  it('When a 429 would delay a job past JOB_MAX_AGE, then it is dead-lettered EXPIRED with what it waited for', () => {
    expect(
      decide(
        { kind: 'failed', error: ghlError('RATE_LIMITED', 429, {}, { intervalMs: 10_000 }) },
        context(old),
      ),
    ).toEqual({
      kind: 'dead-letter',
      reason: 'EXPIRED',
      waitingFor: 'GHL_RATE_LIMITED',
      logLevel: 'error',
    });
  });

  it('When the budget or a busy task would delay it past JOB_MAX_AGE, then EXPIRED too; within the age it waits', () => {
    expect(
      decide({ kind: 'rate-budget-spent', msBeforeNext: 10_000, reserved: true }, context(old)),
    ).toMatchObject({
      reason: 'EXPIRED',
      waitingFor: 'RATE_BUDGET',
    });
    expect(decide({ kind: 'task-busy', msBeforeNext: 4_000 }, context(old))).toMatchObject({ kind: 'delay' });
  });

  it('When a forced shutdown sends an old job back to the queue, then it is not expired for it', () => {
    expect(
      decide({ kind: 'failed', error: ghlError('ABORTED') }, context({ addedAt: NOW - 2 * MAX_AGE_MS })),
    ).toMatchObject({
      kind: 'delay',
      reason: 'SHUTDOWN',
    });
  });
});
