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

interface Counter {
  windowStart: number;
  burstCount: number;
  day: number;
  dailyCount: number;
}

const DAY_MS = 86_400_000;

/**
 * Per-location budgets: a fixed burst window (GHL documents "100 requests per 10 seconds" without
 * saying how the window moves; a fixed window is the cheapest that gives the same headers) and a
 * count per UTC day. O(1) per request: one Map lookup and a few integer updates.
 */
export class RateLimiter {
  readonly #counters = new Map<string, Counter>();

  constructor(
    readonly burstLimit: number,
    readonly burstIntervalMs: number,
    readonly dailyLimit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts one request. A request refused by the burst window is not counted against the day, so a
   * client hammering through a 429 storm does not burn its daily budget twice.
   */
  consume(locationId: string): RateLimitDecision {
    const counter = this.#current(locationId);
    counter.burstCount += 1;
    if (counter.burstCount > this.burstLimit) {
      return { ...this.#stateOf(counter), allowed: false, exceeded: 'burst' };
    }
    if (counter.dailyCount >= this.dailyLimit) {
      return { ...this.#stateOf(counter), allowed: false, exceeded: 'daily' };
    }
    counter.dailyCount += 1;
    return { ...this.#stateOf(counter), allowed: true };
  }

  /** The location's budgets without counting a request. */
  peek(locationId: string): RateLimitState {
    return this.#stateOf(this.#current(locationId));
  }

  /** Budgets for a request whose location is unknown: nothing spent. */
  fresh(): RateLimitState {
    return {
      burstLimit: this.burstLimit,
      burstRemaining: this.burstLimit,
      burstIntervalMs: this.burstIntervalMs,
      dailyLimit: this.dailyLimit,
      dailyRemaining: this.dailyLimit,
    };
  }

  clear(): void {
    this.#counters.clear();
  }

  #current(locationId: string): Counter {
    const now = this.now();
    const day = Math.floor(now / DAY_MS);
    let counter = this.#counters.get(locationId);
    if (!counter) {
      counter = { windowStart: now, burstCount: 0, day, dailyCount: 0 };
      this.#counters.set(locationId, counter);
      return counter;
    }
    if (now - counter.windowStart >= this.burstIntervalMs) {
      counter.windowStart = now;
      counter.burstCount = 0;
    }
    if (counter.day !== day) {
      counter.day = day;
      counter.dailyCount = 0;
    }
    return counter;
  }

  #stateOf(counter: Counter): RateLimitState {
    return {
      burstLimit: this.burstLimit,
      burstRemaining: Math.max(0, this.burstLimit - counter.burstCount),
      burstIntervalMs: this.burstIntervalMs,
      dailyLimit: this.dailyLimit,
      dailyRemaining: Math.max(0, this.dailyLimit - counter.dailyCount),
    };
  }
}
