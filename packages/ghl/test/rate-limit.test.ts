import { describe, expect, it } from '@jest/globals';
import { parseRateLimit, parseRetryAfter } from '../src/rate-limit.js';

describe('parseRateLimit', () => {
  it('When all five X-RateLimit headers are present, then each is returned as a number', () => {
    const state = parseRateLimit({
      'x-ratelimit-max': '100',
      'x-ratelimit-remaining': '97',
      'x-ratelimit-interval-milliseconds': '10000',
      'x-ratelimit-limit-daily': '200000',
      'x-ratelimit-daily-remaining': '199990',
    });
    expect(state).toEqual({
      max: 100,
      remaining: 97,
      intervalMs: 10_000,
      dailyLimit: 200_000,
      dailyRemaining: 199_990,
    });
  });

  it('When there are no rate-limit headers, then the state is empty rather than zeros', () => {
    expect(parseRateLimit({ 'content-type': 'application/json' })).toEqual({});
  });

  it('When a header is malformed, then only that field is left out', () => {
    const state = parseRateLimit({
      'x-ratelimit-max': 'lots',
      'x-ratelimit-remaining': '-1',
      'x-ratelimit-interval-milliseconds': '1e4',
      'x-ratelimit-limit-daily': '',
      'x-ratelimit-daily-remaining': ['5', '6'],
    });
    expect(state).toEqual({ dailyRemaining: 5 });
  });

  it('When Retry-After is given in seconds, then retryAfterMs holds milliseconds', () => {
    expect(parseRateLimit({ 'retry-after': '2' }).retryAfterMs).toBe(2000);
    expect(parseRateLimit({ 'retry-after': '0.5' }).retryAfterMs).toBe(500);
  });

  it('When Retry-After is an HTTP date, then retryAfterMs is the time left until it, never negative', () => {
    const now = Date.parse('2026-11-29T10:00:00Z');
    expect(parseRetryAfter('Sun, 29 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 09:00:00 GMT', now)).toBe(0);
  });

  it('When Retry-After is neither seconds nor a date, then it is ignored', () => {
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('-3')).toBeUndefined();
    expect(parseRetryAfter('  ')).toBeUndefined();
    expect(parseRateLimit({ 'retry-after': 'soon' })).toEqual({});
  });
});
