/** What a location has left, as GHL reports it in its X-RateLimit-* headers (docs/ghl-api.md). */
export interface RateLimitState {
  burstLimit: number;
  burstRemaining: number;
  burstIntervalMs: number;
  dailyLimit: number;
  dailyRemaining: number;
}

export interface RateLimitDecision extends RateLimitState {
  allowed: boolean;
  /** Which budget refused the request, when one did. */
  exceeded?: 'burst' | 'daily';
}

/**
 * How the burst budget is counted. GHL documents "100 requests per 10 seconds" without saying how the
 * window moves (docs/ghl-api.md §2), so the sandbox offers both readings and a client must hold under
 * either: `fixed` resets the count when a window that began with a request has passed; `sliding`
 * allows at most `burstLimit` requests in any `burstIntervalMs` span.
 */
export type RateWindow = 'fixed' | 'sliding';
export const RATE_WINDOWS: readonly RateWindow[] = ['fixed', 'sliding'];

/** Limits that apply to one location; a seed may override the defaults per location (docs/ghl-api.md §2). */
export interface RateLimits {
  burstLimit: number;
  burstIntervalMs: number;
  dailyLimit: number;
}

export interface RateLimiterOptions extends RateLimits {
  window?: RateWindow;
  /** Length of the "day" of the daily budget; days are aligned to multiples of it since the epoch. */
  dayMs?: number;
  now?: () => number;
}

interface Counter {
  limits: RateLimits;
  /** fixed: when the current window began, and the requests counted in it. */
  windowStart: number;
  burstCount: number;
  /**
   * sliding: the times of the last `burstLimit` requests counted, a ring oldest first from `head`.
   * Memory is O(burstLimit) per location, and each request trims from the head, O(1) amortized.
   */
  log: number[];
  head: number;
  size: number;
  day: number;
  dailyCount: number;
}

export const DAY_MS = 86_400_000;

/**
 * Per-location budgets: a burst window (fixed or sliding) and a count per day (UTC days by default).
 * O(1) per request in fixed mode, amortized O(1) in sliding mode: one Map lookup and a few updates.
 */
export class RateLimiter {
  readonly #counters = new Map<string, Counter>();
  readonly #overrides = new Map<string, Partial<RateLimits>>();
  readonly defaults: RateLimits;
  readonly window: RateWindow;
  readonly dayMs: number;
  readonly #now: () => number;

  constructor(options: RateLimiterOptions) {
    this.defaults = {
      burstLimit: options.burstLimit,
      burstIntervalMs: options.burstIntervalMs,
      dailyLimit: options.dailyLimit,
    };
    this.window = options.window ?? 'fixed';
    this.dayMs = options.dayMs ?? DAY_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Kept for callers of the first version, which read the defaults off the limiter. */
  get burstLimit(): number {
    return this.defaults.burstLimit;
  }

  get burstIntervalMs(): number {
    return this.defaults.burstIntervalMs;
  }

  get dailyLimit(): number {
    return this.defaults.dailyLimit;
  }

  /**
   * Sets (or, with undefined, removes) a location's own limits. Counts already spent stay: a changed
   * burst limit keeps the newest request times that fit, so a location cannot gain budget by it.
   */
  setLimits(locationId: string, limits: Partial<RateLimits> | undefined): void {
    if (limits === undefined || Object.keys(limits).length === 0) this.#overrides.delete(locationId);
    else this.#overrides.set(locationId, { ...limits });
    const counter = this.#counters.get(locationId);
    if (counter) this.#applyLimits(counter, this.limitsOf(locationId));
  }

  limitsOf(locationId: string): RateLimits {
    const override = this.#overrides.get(locationId);
    return override ? { ...this.defaults, ...override } : this.defaults;
  }

  /**
   * Counts one request. A request refused by the burst window is not counted against the day, so a
   * client hammering through a 429 storm does not burn its daily budget twice. In sliding mode a
   * refused request is not logged either: it was not served, and logging it would push the window on.
   */
  consume(locationId: string): RateLimitDecision {
    const now = this.#now();
    const counter = this.#current(locationId, now);
    const { limits } = counter;
    if (this.window === 'fixed') {
      counter.burstCount += 1;
      if (counter.burstCount > limits.burstLimit) {
        return { ...this.#stateOf(counter), allowed: false, exceeded: 'burst' };
      }
    } else {
      if (counter.size >= limits.burstLimit) {
        return { ...this.#stateOf(counter), allowed: false, exceeded: 'burst' };
      }
      counter.log[(counter.head + counter.size) % limits.burstLimit] = now;
      counter.size += 1;
    }
    if (counter.dailyCount >= limits.dailyLimit) {
      return { ...this.#stateOf(counter), allowed: false, exceeded: 'daily' };
    }
    counter.dailyCount += 1;
    return { ...this.#stateOf(counter), allowed: true };
  }

  /** The location's budgets without counting a request. */
  peek(locationId: string): RateLimitState {
    return this.#stateOf(this.#current(locationId, this.#now()));
  }

  /** Budgets for a request whose location is unknown: nothing spent. */
  fresh(): RateLimitState {
    return {
      burstLimit: this.defaults.burstLimit,
      burstRemaining: this.defaults.burstLimit,
      burstIntervalMs: this.defaults.burstIntervalMs,
      dailyLimit: this.defaults.dailyLimit,
      dailyRemaining: this.defaults.dailyLimit,
    };
  }

  /** Counters and per-location limits. */
  clear(): void {
    this.#counters.clear();
    this.#overrides.clear();
  }

  #current(locationId: string, now: number): Counter {
    const day = Math.floor(now / this.dayMs);
    let counter = this.#counters.get(locationId);
    if (!counter) {
      counter = {
        limits: this.limitsOf(locationId),
        windowStart: now,
        burstCount: 0,
        log: [],
        head: 0,
        size: 0,
        day,
        dailyCount: 0,
      };
      this.#counters.set(locationId, counter);
      return counter;
    }
    if (this.window === 'fixed') {
      if (now - counter.windowStart >= counter.limits.burstIntervalMs) {
        counter.windowStart = now;
        counter.burstCount = 0;
      }
    } else {
      // A request at t is inside the window of a request at now while now - t < interval.
      const capacity = counter.limits.burstLimit;
      while (counter.size > 0 && now - (counter.log[counter.head] ?? 0) >= counter.limits.burstIntervalMs) {
        counter.head = (counter.head + 1) % capacity;
        counter.size -= 1;
      }
    }
    if (counter.day !== day) {
      counter.day = day;
      counter.dailyCount = 0;
    }
    return counter;
  }

  #applyLimits(counter: Counter, limits: RateLimits): void {
    if (limits.burstLimit !== counter.limits.burstLimit) {
      const times: number[] = [];
      for (let i = 0; i < counter.size; i += 1) {
        times.push(counter.log[(counter.head + i) % counter.limits.burstLimit] ?? 0);
      }
      const kept = times.slice(Math.max(0, times.length - limits.burstLimit));
      counter.log = kept;
      counter.head = 0;
      counter.size = kept.length;
    }
    counter.limits = limits;
  }

  #stateOf(counter: Counter): RateLimitState {
    const { limits } = counter;
    const used = this.window === 'fixed' ? counter.burstCount : counter.size;
    return {
      burstLimit: limits.burstLimit,
      burstRemaining: Math.max(0, limits.burstLimit - used),
      burstIntervalMs: limits.burstIntervalMs,
      dailyLimit: limits.dailyLimit,
      dailyRemaining: Math.max(0, limits.dailyLimit - counter.dailyCount),
    };
  }
}
