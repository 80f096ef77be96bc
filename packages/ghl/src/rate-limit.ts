/**
 * GHL's rate-limit state as reported on one response. Every field is optional: GHL documents the
 * five `X-RateLimit-*` headers "on every response" (marketplace.gohighlevel.com/docs/other/rate-limits),
 * but a proxy error page or a connection failure carries none, and `Retry-After` is not documented
 * at all (GHL's own SDK 3.1.0 ignores it). Callers read what is there and fall back otherwise.
 */
export interface RateLimitState {
  /** `X-RateLimit-Max`: requests allowed per burst window (100 by default; set per app/location). */
  max?: number;
  /** `X-RateLimit-Remaining`: requests left in the current burst window. */
  remaining?: number;
  /** `X-RateLimit-Interval-Milliseconds`: the burst window length (10 000 by default). */
  intervalMs?: number;
  /** `X-RateLimit-Limit-Daily`: requests allowed per day (200 000 by default). */
  dailyLimit?: number;
  /** `X-RateLimit-Daily-Remaining`: requests left today. */
  dailyRemaining?: number;
  /** `Retry-After` converted to milliseconds (delta-seconds or an HTTP date), when present. */
  retryAfterMs?: number;
}

type HeaderValue = string | string[] | undefined;

/**
 * Reads the rate-limit headers. `headers` uses Node's lower-case names (as `IncomingMessage.headers`
 * and got's `response.headers` do). Malformed values are left out rather than guessed at, so a
 * caller never waits on a NaN.
 */
export function parseRateLimit(
  headers: Record<string, HeaderValue>,
  now: number = Date.now(),
): RateLimitState {
  const state: RateLimitState = {};
  const assign = (key: Exclude<keyof RateLimitState, 'retryAfterMs'>, header: string): void => {
    const value = parseCount(first(headers[header]));
    if (value !== undefined) state[key] = value;
  };
  assign('max', 'x-ratelimit-max');
  assign('remaining', 'x-ratelimit-remaining');
  assign('intervalMs', 'x-ratelimit-interval-milliseconds');
  assign('dailyLimit', 'x-ratelimit-limit-daily');
  assign('dailyRemaining', 'x-ratelimit-daily-remaining');
  const retryAfterMs = parseRetryAfter(first(headers['retry-after']), now);
  if (retryAfterMs !== undefined) state.retryAfterMs = retryAfterMs;
  return state;
}

/**
 * RFC 9110 §10.2.3: `Retry-After` is either delta-seconds or an HTTP-date. A date in the past means
 * "now" (0 ms). Anything else is ignored.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  // Only an IMF-fixdate-like string (has a letter and a year) counts as a date; Date.parse alone would
  // accept things like "12" or "-1" as dates.
  if (!/[a-z]/i.test(trimmed) || !/\d{4}/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

function first(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseCount(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const parsed = Number(trimmed);
  return Number.isSafeInteger(parsed) ? parsed : undefined;
}
