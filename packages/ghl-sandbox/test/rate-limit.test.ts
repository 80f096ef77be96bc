import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '@closeloop/test-support';
import { startSandbox, type RunningSandbox } from '../src/index.js';
import {
  C1,
  T1,
  TOKEN_L1,
  TOKEN_L1_SECOND,
  TOKEN_L2,
  callGhl,
  completePath,
  rateHeaders,
  resetAndSeed,
} from './helpers.js';

const put = (sandbox: RunningSandbox, token = TOKEN_L1) =>
  callGhl(sandbox.url, { method: 'PUT', path: completePath(), token, body: { completed: true } });

describe('burst limit', () => {
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ burstLimit: 3, burstIntervalMs: 60_000, dailyLimit: 1_000 });
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it('When a location makes requests, then X-RateLimit-Remaining counts down with each one, the request itself counted', async () => {
    await resetAndSeed(sandbox.control);
    const first = await put(sandbox);
    const second = await put(sandbox);

    expect(rateHeaders(first.headers)).toEqual({
      max: '3',
      remaining: '2',
      interval: '60000',
      dailyLimit: '1000',
      dailyRemaining: '999',
    });
    expect(rateHeaders(second.headers)).toMatchObject({ remaining: '1', dailyRemaining: '998' });
  });

  it("When a location goes past the burst limit, then the sandbox answers 429 with Remaining 0 — the real API's behaviour, not in GHL's OpenAPI document", async () => {
    await resetAndSeed(sandbox.control);
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await put(sandbox)).status);
    const limited = await put(sandbox);

    expect(statuses).toEqual([200, 200, 200]);
    expect(limited.status).toBe(429);
    expect(limited.contract).toMatchObject({ operationId: 'update-task-completed', documented: false });
    expect(limited.body).toMatchObject({ statusCode: 429, message: 'Too many requests' });
    expect(rateHeaders(limited.headers)).toMatchObject({ max: '3', remaining: '0', dailyRemaining: '997' });
    // GHL documents no Retry-After (docs/ghl-api.md §2); clients must use the interval header.
    expect(limited.headers.get('retry-after')).toBeNull();
  });

  it('When a location is limited, then another token of the same location is limited too and another location is not', async () => {
    await resetAndSeed(sandbox.control);
    for (let i = 0; i < 3; i += 1) await put(sandbox);

    expect((await put(sandbox, TOKEN_L1_SECOND)).status).toBe(429);
    const other = await callGhl(sandbox.url, {
      method: 'GET',
      path: '/contacts/otherContact00000001/tasks',
      token: TOKEN_L2,
    });
    expect(other.status).toBe(200);
    expect(rateHeaders(other.headers).remaining).toBe('2');
  });

  it('When requests are refused before the rate-limit step, then they are not counted', async () => {
    await resetAndSeed(sandbox.control);
    await callGhl(sandbox.url, {
      method: 'PUT',
      path: completePath(),
      version: null,
      body: { completed: true },
    });
    const counted = await put(sandbox);

    expect(rateHeaders(counted.headers).remaining).toBe('2');
  });

  it('When the sandbox is reset, then the rate counters start again', async () => {
    await resetAndSeed(sandbox.control);
    for (let i = 0; i < 4; i += 1) await put(sandbox);
    await resetAndSeed(sandbox.control);

    expect((await put(sandbox)).status).toBe(200);
  });
});

describe('burst window', () => {
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ burstLimit: 2, burstIntervalMs: 300 });
    await resetAndSeed(sandbox.control);
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it('When the burst window has passed, then the location is served again with a full budget', async () => {
    await put(sandbox);
    await put(sandbox);
    expect((await put(sandbox)).status).toBe(429);

    const served = await waitFor(
      async () => {
        const response = await put(sandbox);
        return response.status === 200 ? response : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 50, description: 'the burst window to roll over' },
    );
    expect(rateHeaders(served.headers).remaining).toBe('1');
  });
});

describe('daily limit', () => {
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ burstLimit: 100, dailyLimit: 3 });
    await resetAndSeed(sandbox.control);
  });

  afterAll(async () => {
    await sandbox.close();
  });

  it('When a location goes past its daily limit, then the sandbox answers 429 with Daily-Remaining 0 while burst budget is left', async () => {
    const answers = [];
    for (let i = 0; i < 4; i += 1) {
      answers.push(await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks/${T1}` }));
    }

    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((answer) => rateHeaders(answer.headers).dailyRemaining)).toEqual(['2', '1', '0', '0']);
    expect(rateHeaders(answers[3]!.headers)).toMatchObject({ dailyLimit: '3', remaining: '96' });
    expect(answers[3]!.contract?.documented).toBe(false);
  });
});
