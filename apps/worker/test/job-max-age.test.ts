import { afterEach, describe, expect, it } from '@jest/globals';
import { Harness, eventFor, newTaskId } from './harness.js';

// JOB_MAX_AGE (apps/worker/src/failure-policy.ts): a 429 spends no attempt, so without a maximum age
// a location that always answers 429 would cycle its jobs forever.
const opened: Harness[] = [];
afterEach(async () => {
  for (const h of opened.splice(0)) await h.close();
});

describe('JOB_MAX_AGE', () => {
  it('When GHL answers 429 to every try, then the job is dead-lettered EXPIRED once its wait would pass JOB_MAX_AGE, naming what it waited for', async () => {
    const taskId = newTaskId('expire');
    const h = await Harness.start({ tasks: [{ id: taskId }], env: { JOB_MAX_AGE: '2s' } });
    opened.push(h);
    await h.sandbox.control.injectFault({ status: 429, headers: { 'retry-after': '1' }, taskId, ratio: 1 });
    const job = await h.enqueue(eventFor(taskId));

    expect(await h.failed(job)).toMatch(/EXPIRED/);
    const letter = await h.deadLetter(job.id ?? '');
    expect(letter?.data).toMatchObject({
      reason: 'EXPIRED',
      lastError: expect.stringContaining('GHL_RATE_LIMITED'),
    });
    // It was tried (and refused) more than once before it expired, and no attempt was spent on a 429.
    const puts = await h.sandbox.control.calls({ method: 'PUT', path: taskId });
    expect(puts.length).toBeGreaterThanOrEqual(2);
    expect(puts.every((call) => call.status === 429)).toBe(true);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(false);
  });
});
