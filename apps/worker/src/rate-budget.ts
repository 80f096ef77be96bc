import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * The proactive per-location request budget, shared by every worker process through Redis.
 *
 * GHL limits each app per location (100 requests / 10 s, docs/ghl-api.md). Counting on our side keeps most
 * jobs from ever meeting a 429, and keying by location keeps one busy sub-account from holding up the
 * others. That is why this is not BullMQ's limiter: OSS BullMQ limits a whole queue (`limiter`,
 * `queue.rateLimit` + RateLimitError pause every tenant; per-key limits are BullMQ Pro only,
 * docs/bullmq.md §1). A spent budget delays only that job (`moveToDelayed` + DelayedError).
 *
 * rate-limiter-flexible's RateLimiterRedis is a fixed window: one atomic Lua INCR + PEXPIRE per call.
 */
export interface RateBudget {
  /** Takes one request from the location's budget; `msBeforeNext` when it is spent. */
  take(locationId: string): Promise<{ ok: true } | { ok: false; msBeforeNext: number }>;
  /**
   * After GHL's own 429: holds every worker back from this location for `ms`, so the other jobs of
   * the location wait here instead of each collecting its own 429.
   */
  holdBack(locationId: string, ms: number): Promise<void>;
}

export interface RateBudgetOptions {
  perInterval: number;
  /** A whole number of seconds in ms: the library keeps Redis windows in seconds. */
  intervalMs: number;
}

export function createRateBudget(redis: Redis, prefix: string, options: RateBudgetOptions): RateBudget {
  const limiter = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${prefix}:ghl-rate`,
    points: options.perInterval,
    duration: options.intervalMs / 1_000,
  });
  return {
    async take(locationId) {
      try {
        await limiter.consume(locationId, 1);
        return { ok: true };
      } catch (rejection) {
        // The library rejects with a RateLimiterRes when the budget is spent, and with an Error when
        // Redis fails; the latter is the caller's (retryable) failure.
        if (rejection instanceof RateLimiterRes) return { ok: false, msBeforeNext: rejection.msBeforeNext };
        throw rejection;
      }
    },
    async holdBack(locationId, ms) {
      // `block` counts in whole seconds and 0 would mean "forever" (RateLimiterRedis._upsert).
      await limiter.block(locationId, Math.max(1, Math.ceil(ms / 1_000)));
    },
  };
}
