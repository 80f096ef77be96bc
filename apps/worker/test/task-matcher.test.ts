import { describe, expect, it } from '@jest/globals';
import { DEFAULT_TICKET_PATTERN } from '@closeloop/queue';
import { createRateBudget } from '../src/rate-budget.js';
import {
  MATCH_CACHE_TTL_SECONDS,
  createTaskMatcher,
  matchCacheKey,
  type MatchRequest,
  type TaskMatcher,
} from '../src/task-matcher.js';
import { CONTACT_A, LOC_A, useCleanup, type Harness } from './harness.js';

/** The matcher on its own, against the sandbox and Redis: the cache and `forget`. */

const { harness } = useCleanup();

async function matcherWith(
  tasks: Array<{ id: string; title: string; completed?: boolean }>,
): Promise<{ h: Harness; matcher: TaskMatcher }> {
  const h = await harness({ startWorker: false });
  await h.sandbox.control.seed({ tasks: tasks.map((task) => ({ contactId: CONTACT_A, ...task })) });
  const redis = h.connection();
  const matcher = createTaskMatcher({
    ghl: h.ghlClient(),
    budget: createRateBudget(redis, h.prefix, h.config.rateLimit),
    redis,
    prefix: h.prefix,
  });
  return { h, matcher };
}

function request(overrides: Partial<MatchRequest> = {}): MatchRequest {
  return {
    locationId: LOC_A,
    ticketRef: 'ZD-4711',
    email: 'a@example.com',
    completed: true,
    pattern: DEFAULT_TICKET_PATTERN,
    ...overrides,
  };
}

describe('task matcher: the cache', () => {
  it('When a task was found, then the same ticket is answered from the cache, whatever state the event wants, for 15 minutes', async () => {
    const { h, matcher } = await matcherWith([{ id: 'task-target', title: 'Call back (ZD-4711)' }]);

    expect(await matcher.resolve(request())).toEqual({
      kind: 'found',
      contactId: CONTACT_A,
      taskId: 'task-target',
      cached: false,
    });
    expect(await matcher.resolve(request({ completed: false }))).toEqual({
      kind: 'found',
      contactId: CONTACT_A,
      taskId: 'task-target',
      cached: true,
    });
    // The email's case does not matter (GHL's duplicate search ignores it).
    expect(await matcher.resolve(request({ email: 'A@Example.com' }))).toMatchObject({ cached: true });
    expect(await h.sandbox.control.calls()).toHaveLength(2);
    const ttl = await h.producer.redis.ttl(matchCacheKey(h.prefix, request()));
    expect(ttl).toBeGreaterThan(MATCH_CACHE_TTL_SECONDS - 5);
    expect(ttl).toBeLessThanOrEqual(MATCH_CACHE_TTL_SECONDS);
  });

  it('When another ticket or pattern is asked, then its task is looked up on its own (the contact comes from the cache)', async () => {
    const { h, matcher } = await matcherWith([
      { id: 'task-target', title: 'Call back (ZD-4711)' },
      { id: 'task-other', title: 'Call back (ZD-5000)' },
    ]);

    await matcher.resolve(request());
    expect(await matcher.resolve(request({ ticketRef: 'ZD-5000' }))).toMatchObject({
      taskId: 'task-other',
      cached: false,
    });
    expect(await matcher.resolve(request({ pattern: String.raw`\({ticket}\)` }))).toMatchObject({
      taskId: 'task-target',
      cached: false,
    });
    // The contact found by email is cached too: only the task lists were asked again.
    const calls = await h.sandbox.control.calls();
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      'GET /contacts/search/duplicate',
      `GET /contacts/${CONTACT_A}/tasks`,
      `GET /contacts/${CONTACT_A}/tasks`,
      `GET /contacts/${CONTACT_A}/tasks`,
    ]);
  });

  it('When forget is called (the PUT answered 404), then the next resolve looks the task and the contact up again', async () => {
    const { h, matcher } = await matcherWith([{ id: 'task-old', title: 'Call back (ZD-4711)' }]);
    await matcher.resolve(request());

    // The task was replaced by another for the same ticket.
    await h.sandbox.control.seed({
      tasks: [
        { id: 'task-old', contactId: CONTACT_A, title: 'Call back (done elsewhere)' },
        { id: 'task-new', contactId: CONTACT_A, title: 'Call back (ZD-4711)' },
      ],
    });
    await matcher.forget(request({ completed: false }));

    expect(await matcher.resolve(request())).toEqual({
      kind: 'found',
      contactId: CONTACT_A,
      taskId: 'task-new',
      cached: false,
    });
    expect(await h.sandbox.control.calls({ path: '/contacts/search/duplicate' })).toHaveLength(2);
  });

  it('When nothing matches, then nothing is cached', async () => {
    const { h, matcher } = await matcherWith([]);

    expect(await matcher.resolve(request())).toMatchObject({ kind: 'no-match' });
    expect(await h.producer.redis.exists(matchCacheKey(h.prefix, request()))).toBe(0);
  });

  it('When the cached value is not one the matcher wrote, then it is ignored and the task looked up again', async () => {
    const { h, matcher } = await matcherWith([{ id: 'task-target', title: 'Call back (ZD-4711)' }]);
    await h.producer.redis.set(matchCacheKey(h.prefix, request()), 'not json');

    expect(await matcher.resolve(request())).toMatchObject({ taskId: 'task-target', cached: false });
  });

  it('When the cache key is built, then it names neither the email nor the ticket', () => {
    const key = matchCacheKey('closeloop', request());
    expect(key).toMatch(/^closeloop:task-match:task:[0-9a-f]{40}$/);
    expect(key).not.toContain('example.com');
    expect(key).not.toContain('4711');
  });
});

describe('task matcher: the budget', () => {
  it('When the location budget is spent, then resolve answers rate-budget-spent and calls nothing', async () => {
    const { h } = await matcherWith([{ id: 'task-target', title: 'Call back (ZD-4711)' }]);
    const redis = h.connection();
    const budget = createRateBudget(redis, h.prefix, { perInterval: 1, intervalMs: 10_000 });
    expect(await budget.take(LOC_A)).toEqual({ ok: true });
    const matcher = createTaskMatcher({ ghl: h.ghlClient(), budget, redis, prefix: h.prefix });

    const result = await matcher.resolve(request({ email: undefined }));

    expect(result.kind).toBe('rate-budget-spent');
    expect(result.kind === 'rate-budget-spent' && result.msBeforeNext).toBeGreaterThan(0);
    expect(await h.sandbox.control.calls()).toEqual([]);
  });
});
