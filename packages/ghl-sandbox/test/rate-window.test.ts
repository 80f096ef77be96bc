import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '@closeloop/test-support';
import { loadConfig } from '../src/config.js';
import { RateLimiter } from '../src/rate-limiter.js';
import { startSandbox, type RateWindow, type RunningSandbox } from '../src/index.js';
import {
  C2,
  DEMO_SEED,
  L1,
  TOKEN_L1,
  TOKEN_L2,
  callGhl,
  completePath,
  rateHeaders,
  resetAndSeed,
} from './helpers.js';

const put = (sandbox: RunningSandbox, token = TOKEN_L1) =>
  callGhl(sandbox.url, { method: 'PUT', path: completePath(), token, body: { completed: true } });
const getOther = (sandbox: RunningSandbox) =>
  callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C2}/tasks`, token: TOKEN_L2 });

const WINDOWS: RateWindow[] = ['fixed', 'sliding'];

let running: RunningSandbox[] = [];
async function start(options: Parameters<typeof startSandbox>[0]): Promise<RunningSandbox> {
  const sandbox = await startSandbox(options);
  running.push(sandbox);
  await resetAndSeed(sandbox.control);
  return sandbox;
}
afterEach(async () => {
  await Promise.all(running.map((sandbox) => sandbox.close()));
  running = [];
});

describe.each(WINDOWS)('%s window', (rateWindow) => {
  it('When a location sends exactly burstLimit requests at once, then all pass, Remaining counts to 0, and the next is 429', async () => {
    const sandbox = await start({ rateWindow, burstLimit: 5, burstIntervalMs: 60_000, dailyLimit: 1_000 });
    const answers = [];
    for (let i = 0; i < 6; i += 1) answers.push(await put(sandbox));

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(answers.map((answer) => rateHeaders(answer.headers).remaining)).toEqual([
      '4',
      '3',
      '2',
      '1',
      '0',
      '0',
    ]);
    expect(rateHeaders(answers[5]!.headers)).toEqual({
      max: '5',
      remaining: '0',
      interval: '60000',
      dailyLimit: '1000',
      dailyRemaining: '995',
    });
  });

  it('When the window has passed, then the location is served again and Remaining counts only the requests still in the window', async () => {
    const sandbox = await start({ rateWindow, burstLimit: 2, burstIntervalMs: 300 });
    await put(sandbox);
    await put(sandbox);
    expect((await put(sandbox)).status).toBe(429);

    const served = await waitFor(
      async () => {
        const response = await put(sandbox);
        return response.status === 200 ? response : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 50, description: 'the burst window to pass' },
    );
    // Fixed: a new window, this request in it. Sliding: the first request has left the window and the
    // second (a few ms younger) may not have yet; the exact steps are in the fake-clock tests below.
    const remaining = rateHeaders(served.headers).remaining;
    if (rateWindow === 'fixed') expect(remaining).toBe('1');
    else expect(['0', '1']).toContain(remaining);
  });

  it('When a location has its own limits in the seed, then its headers report them and it is refused at them, while other locations keep the defaults', async () => {
    const sandbox = await start({ rateWindow, burstLimit: 10, burstIntervalMs: 60_000, dailyLimit: 1_000 });
    await sandbox.control.seed({
      locations: [
        { ...DEMO_SEED.locations![0]!, rateLimit: { burstLimit: 2, burstIntervalMs: 5_000, dailyLimit: 50 } },
      ],
    });

    const answers = [await put(sandbox), await put(sandbox), await put(sandbox)];
    const other = await getOther(sandbox);

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(rateHeaders(answers[0]!.headers)).toEqual({
      max: '2',
      remaining: '1',
      interval: '5000',
      dailyLimit: '50',
      dailyRemaining: '49',
    });
    expect(rateHeaders(answers[2]!.headers)).toMatchObject({
      max: '2',
      remaining: '0',
      dailyRemaining: '48',
    });
    expect(rateHeaders(other.headers)).toEqual({
      max: '10',
      remaining: '9',
      interval: '60000',
      dailyLimit: '1000',
      dailyRemaining: '999',
    });
  });

  it('When a location with its own limits is seeded again without them, then the defaults apply again and the spent count stays', async () => {
    const sandbox = await start({ rateWindow, burstLimit: 10, burstIntervalMs: 60_000, dailyLimit: 1_000 });
    const location = DEMO_SEED.locations![0]!;
    await sandbox.control.seed({ locations: [{ ...location, rateLimit: { burstLimit: 2 } }] });
    await put(sandbox);
    await put(sandbox);
    expect((await put(sandbox)).status).toBe(429);

    await sandbox.control.seed({ locations: [location] });
    const after = await put(sandbox);

    expect(after.status).toBe(200);
    expect(rateHeaders(after.headers).max).toBe('10');
    expect(Number(rateHeaders(after.headers).remaining)).toBeLessThan(10 - 1);
  });
});

describe('sliding window against fixed', () => {
  // Time passing is what is under test here, so the test waits for it; the margins (over a second on
  // each side) keep the outcome independent of a loaded machine.
  const INTERVAL_MS = 3_000;
  const LIMIT = 4;

  async function spread(rateWindow: RateWindow): Promise<number[]> {
    const sandbox = await start({ rateWindow, burstLimit: LIMIT, burstIntervalMs: INTERVAL_MS });
    const statuses: number[] = [];
    const started = performance.now();
    statuses.push((await put(sandbox)).status); // opens the fixed window at t0
    await sleep(1_500 - (performance.now() - started));
    for (let i = 0; i < LIMIT - 1; i += 1) statuses.push((await put(sandbox)).status); // t0 + 1.5 s
    await sleep(INTERVAL_MS + 200 - (performance.now() - started));
    for (let i = 0; i < LIMIT; i += 1) statuses.push((await put(sandbox)).status); // t0 + 3.2 s
    expect(performance.now() - started).toBeLessThan(1_500 + INTERVAL_MS);
    return statuses;
  }

  it('When requests are spread so that a fixed window allows them, then a sliding window refuses those over burstLimit in the last interval', async () => {
    const [fixed, sliding] = await Promise.all([spread('fixed'), spread('sliding')]);

    // Fixed: a new window at t0 + 3 s allows 4 more, 7 requests within 1.7 s.
    expect(fixed).toEqual([200, 200, 200, 200, 200, 200, 200, 200]);
    // Sliding: at t0 + 3.2 s the three of t0 + 1.5 s still count, so only one more fits.
    expect(sliding).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
  });
});

describe('short day', () => {
  it('When a location has spent its daily budget, then it is refused until the next day begins (aligned to multiples of dayMs), then served with a full budget', async () => {
    const DAY = 2_000;
    const sandbox = await start({ dayMs: DAY, dailyLimit: 2, burstLimit: 100 });
    // Begin right after a day boundary so that the three requests fall in one day.
    await sleep(DAY - (Date.now() % DAY) + 20);
    const dayEnds = (Math.floor(Date.now() / DAY) + 1) * DAY;
    const answers = [await put(sandbox), await put(sandbox), await put(sandbox)];

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
    expect(rateHeaders(answers[2]!.headers)).toMatchObject({ dailyLimit: '2', dailyRemaining: '0' });
    expect(answers[2]!.body).toMatchObject({ statusCode: 429, message: 'Too many requests' });

    const served = await waitFor(
      async () => {
        const response = await put(sandbox);
        return response.status === 200 ? response : undefined;
      },
      { timeoutMs: 3 * DAY, intervalMs: 100, description: 'the next sandbox day' },
    );
    expect(Date.now()).toBeGreaterThanOrEqual(dayEnds);
    expect(rateHeaders(served.headers).dailyRemaining).toBe('1');
  });
});

describe('RateLimiter with a fake clock (exact boundaries)', () => {
  const limiter = (
    window: RateWindow,
    clock: { now: number },
    limits = { burstLimit: 3, dailyLimit: 1_000 },
  ) => new RateLimiter({ ...limits, burstIntervalMs: 1_000, window, dayMs: 10_000, now: () => clock.now });

  it('When requests straddle a fixed window boundary, then fixed lets twice the burst through while sliding holds to burstLimit in any interval', () => {
    const results: Record<RateWindow, boolean[]> = { fixed: [], sliding: [] };
    for (const window of WINDOWS) {
      const clock = { now: 0 };
      const rate = limiter(window, clock);
      results[window].push(rate.consume(L1).allowed); // t = 0
      clock.now = 990;
      for (let i = 0; i < 2; i += 1) results[window].push(rate.consume(L1).allowed);
      clock.now = 1_000;
      for (let i = 0; i < 3; i += 1) results[window].push(rate.consume(L1).allowed);
    }

    expect(results.fixed).toEqual([true, true, true, true, true, true]);
    // At t = 1000 the request of t = 0 has left the window (1000 - 0 >= 1000); those of 990 have not.
    expect(results.sliding).toEqual([true, true, true, true, false, false]);
  });

  it('When time passes in sliding mode, then Remaining grows back one request at a time as each leaves the window', () => {
    const clock = { now: 0 };
    const rate = limiter('sliding', clock);
    rate.consume(L1);
    clock.now = 400;
    rate.consume(L1);
    rate.consume(L1);

    const remaining = [999, 1_000, 1_399, 1_400].map((at) => {
      clock.now = at;
      return rate.peek(L1).burstRemaining;
    });
    expect(remaining).toEqual([0, 1, 1, 3]);
  });

  it('When a sliding location is refused, then the refusal is not logged and does not push its window on', () => {
    const clock = { now: 0 };
    const rate = limiter('sliding', clock);
    for (let i = 0; i < 3; i += 1) rate.consume(L1);
    clock.now = 999;
    for (let i = 0; i < 5; i += 1) expect(rate.consume(L1).allowed).toBe(false);
    clock.now = 1_000;

    expect(rate.consume(L1)).toMatchObject({ allowed: true, burstRemaining: 2 });
  });

  it('When a location limit shrinks, then the newest request times are kept so that no budget is gained', () => {
    const clock = { now: 0 };
    const rate = limiter('sliding', clock, { burstLimit: 5, dailyLimit: 1_000 });
    for (const at of [0, 100, 200, 300]) {
      clock.now = at;
      rate.consume(L1);
    }
    rate.setLimits(L1, { burstLimit: 2 });

    expect(rate.peek(L1)).toMatchObject({ burstLimit: 2, burstRemaining: 0 });
    clock.now = 1_150; // 200 and 300 still in the window
    expect(rate.consume(L1).allowed).toBe(false);
    clock.now = 1_200; // 200 has left it
    expect(rate.consume(L1)).toMatchObject({ allowed: true, burstRemaining: 0 });
  });

  it('When the clock crosses a multiple of dayMs, then the daily count starts again', () => {
    const clock = { now: 19_990 };
    const rate = limiter('fixed', clock, { burstLimit: 100, dailyLimit: 2 });
    rate.consume(L1);
    rate.consume(L1);
    expect(rate.consume(L1)).toMatchObject({ allowed: false, exceeded: 'daily', dailyRemaining: 0 });
    clock.now = 20_000;

    expect(rate.consume(L1)).toMatchObject({ allowed: true, dailyRemaining: 1 });
  });
});

describe('configuration', () => {
  it('When SANDBOX_RATE_WINDOW, SANDBOX_DAY_MS and SANDBOX_ACCESS_TOKEN_TTL_MS are set, then the start options carry them', () => {
    const result = loadConfig({
      SANDBOX_RATE_WINDOW: 'Sliding',
      SANDBOX_DAY_MS: '60000',
      SANDBOX_ACCESS_TOKEN_TTL_MS: '5000',
    });

    expect(result).toMatchObject({
      ok: true,
      config: { start: { rateWindow: 'sliding', dayMs: 60_000, accessTokenTtlMs: 5_000 } },
    });
  });

  it('When they are unset, then the options leave the defaults (fixed, a UTC day, 86,399 s tokens) to the sandbox', () => {
    const result = loadConfig({});

    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.start).not.toHaveProperty('rateWindow');
    expect(result.config.start).not.toHaveProperty('dayMs');
  });

  it('When SANDBOX_RATE_WINDOW is neither fixed nor sliding, then the configuration is refused with the variable named', () => {
    const result = loadConfig({ SANDBOX_RATE_WINDOW: 'rolling', SANDBOX_DAY_MS: '0' });

    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toEqual([
      'SANDBOX_RATE_WINDOW: must be fixed or sliding',
      'SANDBOX_DAY_MS: must be a whole number from 1 to 86400000',
    ]);
  });
});

afterAll(async () => {
  await Promise.all(running.map((sandbox) => sandbox.close()));
});
