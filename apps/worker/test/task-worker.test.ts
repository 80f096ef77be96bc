import { describe, expect, it } from '@jest/globals';
import type { RecordedCall } from '@closeloop/ghl-sandbox';
import { TASK_UPDATE_JOB_NAME, TASK_UPDATE_JOB_OPTIONS } from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import { Queue } from 'bullmq';
import {
  CONTACT_A,
  LOC_A,
  LOC_B,
  TOKEN_A,
  eventFor,
  newTaskId,
  useCleanup,
  type Harness,
} from './harness.js';

const { harness } = useCleanup();

async function putCalls(h: Harness, taskId: string): Promise<RecordedCall[]> {
  return h.sandbox.control.calls({ path: `/tasks/${taskId}/completed`, method: 'PUT' });
}

function expectDocumentedPut(call: RecordedCall | undefined, taskId: string, completed: boolean): void {
  expect(call).toBeDefined();
  expect(call?.method).toBe('PUT');
  expect(call?.path).toBe(`/contacts/${CONTACT_A}/tasks/${taskId}/completed`);
  expect(call?.headers.version).toBe('2021-07-28');
  expect(call?.headers.authorization).toBe('Bearer [redacted]');
  expect(call?.body).toEqual({ completed });
}

describe('task worker: success', () => {
  it('When GHL answers 200, then the task is completed in GHL and the job completes with the task state GHL returned', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const job = await h.enqueue(eventFor(taskId));

    const result = await h.finished(job);

    expect(result).toEqual({ taskId, completed: true, status: 200 });
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
    const calls = await putCalls(h, taskId);
    expect(calls).toHaveLength(1);
    expectDocumentedPut(calls[0], taskId, true);
    expect(calls[0]?.tokenLocationId).toBe(LOC_A);
    const stored = await h.reload(job);
    expect(await stored.getState()).toBe('completed');
    expect(stored.returnvalue).toEqual(result);
    // BullMQ 6 counts the successful attempt too (moveToFinished increments attemptsMade).
    expect(stored.attemptsMade).toBe(1);
    expect(await h.deadLetterCount()).toBe(0);
  });

  it('When the event is ticket.reopened, then GHL receives {"completed":false} and the task is open again', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId, completed: true }] });
    const job = await h.enqueue(eventFor(taskId, { type: 'ticket.reopened' }));

    expect(await h.finished(job)).toEqual({ taskId, completed: false, status: 200 });

    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(false);
    const calls = await putCalls(h, taskId);
    expect(calls).toHaveLength(1);
    expectDocumentedPut(calls[0], taskId, false);
  });

  it('When the job names no location, then the single-location default (GHL_LOCATION_ID) and its token are used', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const event = eventFor(taskId);
    const job = await h.enqueue({ ...event, ghl: { contactId: CONTACT_A, taskId } });

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
    expect((await putCalls(h, taskId))[0]?.tokenLocationId).toBe(LOC_A);
  });
});

describe('task worker: 429 and the rate budget', () => {
  it('When GHL answers 429 with Retry-After, then the job is delayed without spending an attempt and then completes', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ status: 429, headers: { 'retry-after': '1' }, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));

    await waitFor(async () => (await (await h.reload(job)).getState()) === 'delayed', {
      description: 'the job to be delayed after the 429',
    });
    const delayed = await h.reload(job);
    expect(delayed.attemptsMade).toBe(0);
    // Retry-After 1 s plus jitter: not before a second from now.
    expect(delayed.delay).toBeGreaterThanOrEqual(900);

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
    const done = await h.reload(job);
    // Only the successful attempt counts: the 429 spent none.
    expect(done.attemptsMade).toBe(1);
    expect(done.attemptsStarted).toBeGreaterThanOrEqual(2);
    const calls = await putCalls(h, taskId);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect(Date.parse(calls[1]?.at ?? '') - Date.parse(calls[0]?.at ?? '')).toBeGreaterThanOrEqual(950);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
    expect(
      h.logs.some((l) => l.msg === 'job delayed (no attempt spent)' && l.reason === 'GHL_RATE_LIMITED'),
    ).toBe(true);
  });

  it("When GHL's burst limit is below the configured one, then the budget learns it from GHL's headers and every job completes without spending attempts", async () => {
    const taskIds = [newTaskId(), newTaskId(), newTaskId()];
    const h = await harness({
      sandbox: { burstLimit: 1, burstIntervalMs: 1_000 },
      tasks: taskIds.map((id) => ({ id })),
    });
    const jobs = await Promise.all(taskIds.map((id) => h.enqueue(eventFor(id))));

    const results = await Promise.all(jobs.map((job) => h.finished(job)));

    expect(results).toEqual(taskIds.map((taskId) => ({ taskId, completed: true, status: 200 })));
    for (const job of jobs) expect((await h.reload(job)).attemptsMade).toBe(1);
    const calls = await h.sandbox.control.calls({ method: 'PUT' });
    // Only calls sent before the first answer told the budget X-RateLimit-Max: 1 can meet a 429.
    expect(calls.filter((c) => c.status === 429).length).toBeLessThanOrEqual(2);
    expect(calls.filter((c) => c.status === 200)).toHaveLength(3);
    // Once learned, the three calls are a whole interval apart, as GHL allows.
    const sent = calls.filter((c) => c.status === 200).map((c) => Date.parse(c.at));
    expect(Math.max(...sent) - Math.min(...sent)).toBeGreaterThanOrEqual(1_900);
    for (const id of taskIds) expect((await h.sandbox.control.getTask(id))?.completed).toBe(true);
  });

  it("When one location is rate-limited, then another location's jobs complete meanwhile", async () => {
    const slowTask = newTaskId('slow');
    const otherTasks = [newTaskId(), newTaskId(), newTaskId()];
    const h = await harness({
      tasks: [{ id: slowTask }, ...otherTasks.map((id) => ({ id, location: 'B' as const }))],
    });
    await h.sandbox.control.injectFault({
      status: 429,
      headers: { 'retry-after': '3' },
      taskId: slowTask,
      count: 1,
    });
    const slow = await h.enqueue(eventFor(slowTask));
    await waitFor(async () => (await (await h.reload(slow)).getState()) === 'delayed', {
      description: 'location A to be held back by its 429',
    });
    const others = await Promise.all(otherTasks.map((id) => h.enqueue(eventFor(id, { location: 'B' }))));

    await Promise.all(others.map((job) => h.finished(job)));
    expect(await (await h.reload(slow)).getState()).toBe('delayed');

    expect(await h.finished(slow)).toEqual({ taskId: slowTask, completed: true, status: 200 });
    const bCalls = (await h.sandbox.control.calls({ method: 'PUT' })).filter(
      (c) => c.tokenLocationId === LOC_B,
    );
    expect(bCalls.map((c) => c.status)).toEqual([200, 200, 200]);
  });

  it('When the own budget is 2 per interval, then no 429 reaches GHL while 6 jobs of one location complete', async () => {
    const taskIds = Array.from({ length: 6 }, () => newTaskId());
    const h = await harness({
      // GHL (the sandbox) allows 2 per second; the worker spends 2 per 2 s, so however the two fixed
      // windows are aligned, no second of GHL's holds more than 2 of our calls.
      sandbox: { burstLimit: 2, burstIntervalMs: 1_000 },
      env: { RATE_LIMIT_PER_INTERVAL: '2', RATE_LIMIT_INTERVAL_MS: '2000' },
      tasks: taskIds.map((id) => ({ id })),
    });
    const jobs = await Promise.all(taskIds.map((id) => h.enqueue(eventFor(id))));

    await Promise.all(jobs.map((job) => h.finished(job, 25_000)));

    const calls = await h.sandbox.control.calls({ method: 'PUT' });
    expect(calls.map((c) => c.status)).toEqual([200, 200, 200, 200, 200, 200]);
    for (const job of jobs) expect((await h.reload(job)).attemptsMade).toBe(1);
    // Three windows of two: the last pair went out at least two intervals after the first.
    const times = calls.map((c) => Date.parse(c.at)).sort((a, b) => a - b);
    expect((times[4] ?? 0) - (times[0] ?? 0)).toBeGreaterThanOrEqual(3_500);
  }, 30_000);
});

describe('task worker: retryable failures', () => {
  it.each([500, 503])(
    'When GHL answers %i and then 200, then the job is retried (an attempt spent) and completes',
    async (status) => {
      const taskId = newTaskId();
      const h = await harness({ tasks: [{ id: taskId }] });
      await h.sandbox.control.injectFault({ status, taskId, count: 2 });
      const job = await h.enqueue(eventFor(taskId));

      expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });

      // Two failed attempts and the successful one.
      expect((await h.reload(job)).attemptsMade).toBe(3);
      expect((await putCalls(h, taskId)).map((c) => c.status)).toEqual([status, status, 200]);
      expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
      expect(await h.deadLetterCount()).toBe(0);
    },
  );

  it('When GHL keeps answering 503 with RETRY_ATTEMPTS=3, then exactly one dead letter RETRIES_EXHAUSTED records 3 attempts', async () => {
    const taskId = newTaskId();
    const h = await harness({
      env: { RETRY_ATTEMPTS: '3', RETRY_BASE_MS: '10', RETRY_CAP_MS: '20' },
      tasks: [{ id: taskId }],
    });
    await h.sandbox.control.injectFault({ status: 503, taskId, ratio: 1 });
    const job = await h.enqueue(eventFor(taskId));

    expect(await h.failed(job)).toMatch(/^RETRIES_EXHAUSTED: /);

    const stored = await h.reload(job);
    expect(await stored.getState()).toBe('failed');
    expect(stored.attemptsMade).toBe(3);
    expect(await putCalls(h, taskId)).toHaveLength(3);
    expect(await h.deadLetterCount()).toBe(1);
    const letter = (await h.deadLetter(job.id ?? ''))?.data;
    expect(letter).toMatchObject({
      job: job.data,
      reason: 'RETRIES_EXHAUSTED',
      http: { status: 503 },
      attempts: 3,
    });
    expect(Date.parse(letter?.firstAttemptAt ?? '')).toBeLessThanOrEqual(Date.parse(letter?.deadAt ?? ''));
    expect(letter?.lastError).toContain('503');
    expect(JSON.stringify(letter)).not.toContain(TOKEN_A);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(false);
    // The bookkeeping key for firstAttemptAt is gone with the job's end.
    expect(await h.producer.redis.keys(`${h.prefix}:task-updates:first-attempt:*`)).toEqual([]);
  });

  it('When a GHL call takes longer than GHL_TIMEOUT_MS, then the job is retried and completes', async () => {
    const taskId = newTaskId();
    const h = await harness({ env: { GHL_TIMEOUT_MS: '300' }, tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ latencyMs: 1_500, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });

    expect((await h.reload(job)).attemptsMade).toBe(2);
    expect(await putCalls(h, taskId)).toHaveLength(2);
    expect(
      h.logs.some((l) => l.msg === 'attempt failed; retrying with backoff' && l.code === 'TIMEOUT'),
    ).toBe(true);
  });

  it('When GHL resets the connection, then the job is retried and completes', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ resetConnection: true, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });

    expect((await h.reload(job)).attemptsMade).toBe(2);
    expect(
      h.logs.some((l) => l.msg === 'attempt failed; retrying with backoff' && l.code === 'NETWORK'),
    ).toBe(true);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
  });
});

describe('task worker: permanent failures are dead-lettered at once', () => {
  it.each([
    [400, 'GHL_BAD_REQUEST'],
    [403, 'GHL_FORBIDDEN'],
    [404, 'GHL_NOT_FOUND'],
    [422, 'GHL_UNPROCESSABLE'],
  ])(
    "When GHL answers %i, then the job is dead-lettered %s with GHL's status and body after one call",
    async (status, reason) => {
      const taskId = newTaskId();
      const h = await harness({ tasks: [{ id: taskId }] });
      const body =
        status === 422
          ? { statusCode: 422, message: ['completed must be a boolean value'], error: 'Unprocessable Entity' }
          : { statusCode: status, message: `refused with ${status}` };
      await h.sandbox.control.injectFault({ status, body, taskId, count: 1 });
      const job = await h.enqueue(eventFor(taskId));

      expect(await h.failed(job)).toMatch(new RegExp(`^${reason}: `));

      const stored = await h.reload(job);
      expect(await stored.getState()).toBe('failed');
      expect(stored.attemptsMade).toBe(1);
      expect(await putCalls(h, taskId)).toHaveLength(1);
      const letter = (await h.deadLetter(job.id ?? ''))?.data;
      expect(letter).toMatchObject({ job: job.data, reason, http: { status, body }, attempts: 1 });
      expect(await h.deadLetterCount()).toBe(1);
      expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(false);
    },
  );

  it('When the task does not exist in GHL, then the real 404 is dead-lettered GHL_NOT_FOUND', async () => {
    const h = await harness();
    const job = await h.enqueue(eventFor('missingTask0000000001'));

    expect(await h.failed(job)).toMatch(/^GHL_NOT_FOUND: /);
    expect((await h.deadLetter(job.id ?? ''))?.data.http?.status).toBe(404);
  });

  it('When GHL rejects the token with 401, then the job is dead-lettered GHL_UNAUTHORIZED and an error is logged', async () => {
    const taskId = newTaskId();
    const h = await harness({ startWorker: false, tasks: [{ id: taskId }] });
    // A token the sandbox does not know: GHL's 401 "Invalid JWT".
    h.startWorker({ ...h.config, ghl: { ...h.config.ghl, tokens: { [LOC_A]: 'pit-revoked-token' } } });
    const job = await h.enqueue(eventFor(taskId));

    expect(await h.failed(job)).toMatch(/^GHL_UNAUTHORIZED: /);

    expect(await putCalls(h, taskId)).toHaveLength(1);
    const letter = (await h.deadLetter(job.id ?? ''))?.data;
    expect(letter).toMatchObject({ reason: 'GHL_UNAUTHORIZED', http: { status: 401 }, attempts: 1 });
    const errors = h.logsAt(50);
    expect(
      errors.some((l) => l.reason === 'GHL_UNAUTHORIZED' && l.jobId === job.id && l.locationId === LOC_A),
    ).toBe(true);
    expect(JSON.stringify(h.logs)).not.toContain('pit-revoked-token');
    expect(JSON.stringify(letter)).not.toContain('pit-revoked-token');
  });

  it("When no token is configured for the job's location, then it is dead-lettered NO_CREDENTIALS without calling GHL", async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const event = eventFor(taskId);
    const job = await h.enqueue({ ...event, ghl: { ...event.ghl, locationId: 'locUnknown0000000009' } });

    expect(await h.failed(job)).toMatch(/^NO_CREDENTIALS: /);

    expect(await h.sandbox.control.calls()).toHaveLength(0);
    const letter = (await h.deadLetter(job.id ?? ''))?.data;
    expect(letter?.reason).toBe('NO_CREDENTIALS');
    expect(letter?.http).toBeUndefined();
    expect(h.logsAt(50).some((l) => l.reason === 'NO_CREDENTIALS')).toBe(true);
  });

  it('When GHL answers 200 with a body that breaks the schema, then the job is dead-lettered GHL_BAD_RESPONSE', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ body: { unexpected: true }, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));

    expect(await h.failed(job)).toMatch(/^GHL_BAD_RESPONSE: /);

    expect(await putCalls(h, taskId)).toHaveLength(1);
    expect((await h.deadLetter(job.id ?? ''))?.data).toMatchObject({
      reason: 'GHL_BAD_RESPONSE',
      http: { status: 200 },
      attempts: 1,
    });
  });

  it('When the job data is not a valid v1 job, then it is dead-lettered INVALID_JOB without any GHL call', async () => {
    const h = await harness();
    const raw = new Queue(h.queue.name, { connection: h.producer.redis, prefix: h.prefix });
    const data = { v: 2, source: 'internal', event: { type: 'ticket.closed', ghl: { taskId: '../x' } } };
    const job = await raw.add(TASK_UPDATE_JOB_NAME, data, {
      ...TASK_UPDATE_JOB_OPTIONS,
      jobId: 'internal-broken-1',
    });
    await raw.close();

    expect(await h.failed(job as never)).toMatch(/^INVALID_JOB: /);

    expect(await h.sandbox.control.calls()).toHaveLength(0);
    const letter = (await h.deadLetter('internal-broken-1'))?.data;
    expect(letter).toMatchObject({ job: data, reason: 'INVALID_JOB', attempts: 1 });
    expect(letter?.lastError).toContain('v');
  });
});

describe('task worker: ordering guard', () => {
  it('When a stale ticket.reopened arrives after a newer ticket.closed was applied, then the task stays completed', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const closed = await h.enqueue(eventFor(taskId, { occurredAt: '2026-11-28T10:00:05.000Z' }));
    await h.finished(closed);

    const reopened = await h.enqueue(
      eventFor(taskId, { type: 'ticket.reopened', occurredAt: '2026-11-28T10:00:00.000Z' }),
    );

    expect(await h.finished(reopened)).toEqual({
      skipped: 'STALE_EVENT',
      taskId,
      lastAppliedAt: '2026-11-28T10:00:05.000Z',
    });
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
    expect(await putCalls(h, taskId)).toHaveLength(1);
  });

  it('When a newer event follows, then it is applied and raises the marker', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.finished(await h.enqueue(eventFor(taskId, { occurredAt: '2026-11-28T10:00:00.000Z' })));
    const reopened = await h.enqueue(
      eventFor(taskId, { type: 'ticket.reopened', occurredAt: '2026-11-28T10:01:00.000Z' }),
    );

    expect(await h.finished(reopened)).toEqual({ taskId, completed: false, status: 200 });
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(false);
    const marker = await h.producer.redis.get(`${h.prefix}:task-order:${taskId}`);
    expect(marker?.split('|')).toEqual([
      String(Date.parse('2026-11-28T10:01:00.000Z')),
      expect.stringMatching(/^\d+$/),
      reopened.id,
    ]);
  });

  it('When a failed call is retried, then the marker was not raised by the failure', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ status: 500, taskId, count: 1 });
    // An older event retried after a failure must still apply: the failure left no marker behind.
    const job = await h.enqueue(eventFor(taskId, { occurredAt: '2026-11-28T09:00:00.000Z' }));
    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
  });

  it('When two events for one task are processed at once, then they go to GHL one after the other and the newer one wins', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    // The older event's call is slow: without the per-task lock it would land after the newer one.
    await h.sandbox.control.injectFault({ latencyMs: 800, taskId, count: 1 });
    const older = await h.enqueue(
      eventFor(taskId, { type: 'ticket.closed', occurredAt: '2026-11-28T10:00:00.000Z' }),
    );
    await waitFor(async () => (await putCalls(h, taskId)).length === 1, {
      description: 'the older call in flight',
    });
    const newer = await h.enqueue(
      eventFor(taskId, { type: 'ticket.reopened', occurredAt: '2026-11-28T10:00:01.000Z' }),
    );

    await Promise.all([h.finished(older), h.finished(newer)]);

    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(false);
    const calls = await putCalls(h, taskId);
    expect(calls.map((c) => c.body)).toEqual([{ completed: true }, { completed: false }]);
    expect(Date.parse(calls[1]?.at ?? '')).toBeGreaterThanOrEqual(Date.parse(calls[0]?.at ?? '') + 700);
    // Waiting for the task's lock spent no attempt: only the successful one counts.
    expect((await h.reload(newer)).attemptsMade).toBe(1);
  });
});

describe('task worker: one log line and one observer call per job outcome', () => {
  it('When a job is delayed by a 429, retried after a 503 and then completes, then each outcome is one line with jobId, locationId, outcome, reason or code, status, attempts and ms, and one observer call', async () => {
    const taskId = newTaskId();
    const h = await harness({ startWorker: false, tasks: [{ id: taskId }] });
    const seen: string[] = [];
    h.startWorker(h.config, {
      onJobCompleted: (outcome) => seen.push(`completed:${outcome}`),
      onJobDelayed: (reason) => seen.push(`delayed:${reason}`),
      onJobRetried: (code) => seen.push(`retried:${code}`),
      onJobDeadLettered: (reason) => seen.push(`dead-lettered:${reason}`),
    });
    await h.sandbox.control.injectFault({ status: 429, headers: { 'retry-after': '0' }, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));
    await waitFor(async () => (await putCalls(h, taskId)).length === 1, { description: 'the 429' });
    await h.sandbox.control.injectFault({ status: 503, taskId, count: 1 });

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });

    const lines = h.logs.filter((l) => l.jobId === job.id && l.level >= 30 && l.outcome !== undefined);
    // The location is held back for whole seconds after the 429, so the job may also meet its own
    // spent budget once or twice on the way: a delay of its own, logged and observed as such.
    const budgetDelays = lines.filter((l) => l.reason === 'RATE_BUDGET');
    expect(budgetDelays.every((l) => l.outcome === 'delayed')).toBe(true);
    expect(seen.filter((s) => s === 'delayed:RATE_BUDGET')).toHaveLength(budgetDelays.length);
    // A 503 leaves the task fenced for AMBIGUOUS_HOLD_MS (GHL may still apply the PUT): the retry,
    // due within RETRY_CAP_MS (100 ms) of the 200 ms fence, waits it out (once, or twice when its
    // jittered delay ends right at the fence's last millisecond).
    const fenceDelays = lines.filter((l) => l.reason === 'TASK_BUSY');
    expect(fenceDelays.length).toBeGreaterThanOrEqual(1);
    const others = lines.filter((l) => l.reason !== 'RATE_BUDGET' && l.reason !== 'TASK_BUSY');
    expect(others.map((l) => [l.outcome, l.reason ?? l.code, l.status])).toEqual([
      ['delayed', 'GHL_RATE_LIMITED', 429],
      ['retrying', 'SERVER_ERROR', 503],
      ['completed', undefined, 200],
    ]);
    for (const line of lines) {
      expect(line).toMatchObject({ locationId: LOC_A, attempts: expect.any(Number), ms: expect.any(Number) });
    }
    expect(seen.filter((s) => s !== 'delayed:RATE_BUDGET' && s !== 'delayed:TASK_BUSY')).toEqual([
      'delayed:GHL_RATE_LIMITED',
      'retried:SERVER_ERROR',
      'completed:updated',
    ]);
  });
});
