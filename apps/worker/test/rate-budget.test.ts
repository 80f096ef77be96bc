import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRedisConnection } from '@closeloop/queue';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import type { Cluster, Redis } from 'ioredis';
import { createRateBudget, type RateBudget } from '../src/rate-budget.js';

// The budget against a real Redis (apps/worker/src/rate-budget.ts, docs/rate-budget.md).
let redis: Redis | Cluster;
beforeAll(() => {
  redis = createRedisConnection(testRedisUrl(), 'worker');
});
afterAll(async () => {
  await redis.quit();
});

function budget(options = { perInterval: 5, intervalMs: 1_000 }, dailyHoldMs = () => 60_000): RateBudget {
  return createRateBudget(redis, uniquePrefix('budget'), options, dailyHoldMs);
}

const LOC = 'locBudget00000000001';

/** A budget of `perInterval` per 10 s with LOCATION_CONCURRENCY `cap`. */
function cappedBudget(perInterval: number, cap: number): RateBudget {
  return createRateBudget(redis, uniquePrefix('budget'), {
    perInterval,
    intervalMs: 10_000,
    locationConcurrency: cap,
    inflightTtlMs: 60_000,
  });
}

describe('rate budget: a sliding log with reservations', () => {
  it('When 23 holders take at once, then 5 go now and the others get reserved slots that never put more than 5 in any interval', async () => {
    const b = budget();
    const started = Date.now();
    const takes = await Promise.all(Array.from({ length: 23 }, (_, i) => b.take(LOC, `job-${i}`)));
    const now = takes.filter((take) => take.ok);
    expect(now).toHaveLength(5);
    const slots = takes
      .map((take) => (take.ok ? 0 : take.msBeforeNext))
      .map((ms) => started + ms)
      .sort((a, b) => a - b);
    expect(takes.every((take) => take.ok || take.reserved)).toBe(true);
    // Any window of the interval (1 000 ms, minus a little for the time the takes took) holds ≤ 5.
    for (let i = 5; i < slots.length; i += 1) {
      expect((slots[i] ?? 0) - (slots[i - 5] ?? 0)).toBeGreaterThanOrEqual(990);
    }
    // ...and the reservations are packed: 23 requests at 5 per second end within about 4 intervals.
    expect((slots.at(-1) ?? 0) - started).toBeLessThan(4 * 1_000 + 200);
  });

  it('When a holder comes back before its slot, it is told the same slot; at its slot it claims it, once', async () => {
    const b = budget({ perInterval: 1, intervalMs: 1_000 });
    expect(await b.take(LOC, 'first')).toEqual({ ok: true });
    const reserved = await b.take(LOC, 'second');
    expect(reserved).toMatchObject({ ok: false, reserved: true });
    const again = await b.take(LOC, 'second');
    expect(again.ok).toBe(false);
    if (!reserved.ok && !again.ok) expect(again.msBeforeNext).toBeLessThanOrEqual(reserved.msBeforeNext);
    await new Promise((resolve) => setTimeout(resolve, reserved.ok ? 0 : reserved.msBeforeNext + 20));
    expect(await b.take(LOC, 'second')).toEqual({ ok: true });
    // The claimed slot is now a sent request: the same holder asking again queues behind it.
    expect((await b.take(LOC, 'second')).ok).toBe(false);
  });

  it("When GHL's headers say a lower X-RateLimit-Max, then that is the location's budget from then on", async () => {
    const b = budget({ perInterval: 100, intervalMs: 10_000 });
    expect(await b.take(LOC, 'a')).toEqual({ ok: true });
    await b.observe(LOC, { max: 2, remaining: 1, intervalMs: 10_000 }, 200);
    expect(await b.take(LOC, 'b')).toEqual({ ok: true });
    expect(await b.take(LOC, 'c')).toMatchObject({ ok: false, reserved: true });
  });

  it('When GHL reports fewer remaining than the log expects, then the missing requests count too', async () => {
    const b = budget({ perInterval: 10, intervalMs: 10_000 });
    expect(await b.take(LOC, 'a')).toEqual({ ok: true });
    // Another installation of the app spent 8 of the 10: only 1 is left for us.
    await b.observe(LOC, { max: 10, remaining: 1, intervalMs: 10_000 }, 200);
    expect(await b.take(LOC, 'b')).toEqual({ ok: true });
    expect((await b.take(LOC, 'c')).ok).toBe(false);
  });

  it('When a shorter hold follows a longer one, then the longer one stands', async () => {
    const b = budget();
    await b.holdBack(LOC, 60_000);
    await b.holdBack(LOC, 1_000);
    const take = await b.take(LOC);
    expect(take.ok).toBe(false);
    if (!take.ok) expect(take.msBeforeNext).toBeGreaterThan(50_000);
  });

  it('When the daily remainder reaches 0, then the location waits; after the hold one request probes alone, and a success frees the rest', async () => {
    const b = budget({ perInterval: 100, intervalMs: 10_000 }, () => 300);
    await b.observe(LOC, { dailyRemaining: 0, dailyLimit: 1_000 }, 429);
    expect((await b.take(LOC, 'early')).ok).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await b.take(LOC, 'probe')).toEqual({ ok: true });
    const waiting = await b.take(LOC);
    expect(waiting.ok).toBe(false);
    await b.observe(LOC, { dailyRemaining: 999, dailyLimit: 1_000 }, 200);
    expect(await b.take(LOC, 'after')).toEqual({ ok: true });
  });

  it('When a location has LOCATION_CONCURRENCY calls in flight, then the next take is busy (nothing reserved) until one is released', async () => {
    const b = cappedBudget(100, 2);
    expect(await b.take(LOC, 'a')).toEqual({ ok: true });
    expect(await b.take(LOC, 'b')).toEqual({ ok: true });
    expect(await b.take(LOC, 'c')).toMatchObject({ ok: false, busy: true, reserved: false });
    // Another location is not held up by this one.
    expect(await b.take('locOther000000000002', 'd')).toEqual({ ok: true });
    expect(await b.release(LOC, 'a')).toBe('c');
    expect(await b.take(LOC, 'c')).toEqual({ ok: true });
  });

  it('When jobs wait for a place, then each release hands it to the first waiter, and no later job can take it meanwhile', async () => {
    const b = cappedBudget(100, 1);
    expect(await b.take(LOC, 'first')).toEqual({ ok: true });
    const waiting = [await b.take(LOC, 'w1'), await b.take(LOC, 'w2'), await b.take(LOC, 'w3')];
    expect(waiting.every((take) => !take.ok && take.busy)).toBe(true);
    // A waiter further back is told to come back no sooner than one before it.
    const waits = waiting.map((take) => (take.ok ? 0 : take.msBeforeNext));
    expect(waits[2]).toBeGreaterThanOrEqual(waits[0] ?? 0);

    expect(await b.release(LOC, 'first')).toBe('w1');
    // The place is w1's now: a newcomer, or w2 asking again, is still refused.
    expect(await b.take(LOC, 'late')).toMatchObject({ ok: false, busy: true });
    expect(await b.take(LOC, 'w2')).toMatchObject({ ok: false, busy: true });
    expect(await b.take(LOC, 'w1')).toEqual({ ok: true });
    // Order is kept: w2 waited longer than the newcomer.
    expect(await b.release(LOC, 'w1')).toBe('w2');
    expect(await b.release(LOC, 'w2')).toBe('w3');
    expect(await b.release(LOC, 'w3')).toBe('late');
    expect(await b.release(LOC, 'late')).toBeUndefined();
  });

  it('When a slot is free but no place is, then the job keeps that slot while it waits, and a job that must wait for a slot is never woken by a release', async () => {
    const b = cappedBudget(3, 1);
    expect(await b.take(LOC, 'a')).toEqual({ ok: true });
    // b and c find a slot now but no place: each keeps its slot, so d's is a whole interval later.
    expect(await b.take(LOC, 'b')).toMatchObject({ ok: false, busy: true });
    expect(await b.take(LOC, 'c')).toMatchObject({ ok: false, busy: true });
    const d = await b.take(LOC, 'd');
    expect(d).toMatchObject({ ok: false, reserved: true });
    expect(d.ok ? 0 : d.msBeforeNext).toBeGreaterThan(9_000);

    expect(await b.release(LOC, 'a')).toBe('b');
    expect(await b.take(LOC, 'b')).toEqual({ ok: true });
    expect(await b.release(LOC, 'b')).toBe('c');
    expect(await b.take(LOC, 'c')).toEqual({ ok: true });
    // d waits for its slot, not for a place: no release hands it one.
    expect(await b.release(LOC, 'c')).toBeUndefined();
    expect(await b.holdsPlace(LOC, 'd')).toBe(false);
  });

  it('When answers take about 300 ms, then a slot planned behind a request not yet answered comes that much later, and one behind an answered request does not', async () => {
    const b = budget({ perInterval: 1, intervalMs: 1_000 });
    expect(await b.take(LOC, 'a')).toEqual({ ok: true });
    await sleep(300);
    // a's answer: its entry moves to now, and the location learns that answers take about 300 ms.
    await b.observe(LOC, {}, 200, 'a', 300);
    const second = await b.take(LOC, 'b');
    const third = await b.take(LOC, 'c');
    if (second.ok || third.ok) throw new Error('expected both to be reserved');
    // b follows an answered request: one interval (1 000 ms) and the 1 % margin after the answer.
    expect(second.msBeforeNext).toBeGreaterThanOrEqual(1_000);
    expect(second.msBeforeNext).toBeLessThanOrEqual(1_010);
    // c follows b's reservation, which GHL will count only when b's answer comes: about 300 ms more
    // than an interval after b's slot. Planned from the slot alone (1 010 ms), c's claim would find
    // the window still full of b.
    const gap = third.msBeforeNext - second.msBeforeNext;
    expect(gap).toBeGreaterThanOrEqual(1_010 + 280);
    expect(gap).toBeLessThanOrEqual(1_010 + 340);
  });

  it('When a claim finds its window full for longer than a short wait, then the job takes the next free slot after the ones already promised, not one between them', async () => {
    const b = budget({ perInterval: 2, intervalMs: 1_000 });
    expect(await b.take(LOC, 'a')).toEqual({ ok: true });
    expect(await b.take(LOC, 'b')).toEqual({ ok: true });
    const reserved = await Promise.all(['c', 'd', 'e', 'f'].map((holder) => b.take(LOC, holder)));
    const [c, , , f] = reserved.map((take) => (take.ok ? Number.NaN : Date.now() + take.msBeforeNext));
    if (c === undefined || f === undefined || Number.isNaN(c) || Number.isNaN(f))
      throw new Error('expected c to f to be reserved');
    // a and b are answered 700 ms after they were sent: GHL may have counted them that late.
    await sleep(700);
    await b.observe(LOC, {}, 200, 'a', 700);
    await b.observe(LOC, {}, 200, 'b', 700);
    // At its slot, c finds a and b still in its window for another ~700 ms, more than a short wait.
    await sleep(Math.max(0, c - Date.now()) + 5);
    const claim = await b.take(LOC, 'c');
    expect(claim).toMatchObject({ ok: false, reserved: true });
    // e and f keep the slots they were promised: c comes after them.
    expect(Date.now() + (claim.ok ? 0 : claim.msBeforeNext)).toBeGreaterThan(f);
  });
});
