import { afterEach, describe, expect, it } from '@jest/globals';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import {
  DEFAULT_LOCATION_KEY,
  exampleTaskUpdateJob,
  TASK_UPDATES_QUEUE,
  TASK_UPDATE_JOB_NAME,
  readOldestWaitingAgeMs,
  readQueueStats,
  type TaskUpdateJob,
} from '../src/index.js';

const jobFor = (locationId: string | undefined, key: string): TaskUpdateJob =>
  exampleTaskUpdateJob(key, locationId);

describe('queue stats', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  function openQueue(): { queue: Queue; connection: Redis; prefix: string } {
    const prefix = uniquePrefix('stats');
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const queue = new Queue(TASK_UPDATES_QUEUE, { connection, prefix });
    cleanups.push(async () => {
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    });
    return { queue, connection, prefix };
  }

  it('When jobs sit in every state, then the counts, the age of the job next in line and the backlog per location are read', async () => {
    const { queue, connection, prefix } = openQueue();
    const now = Date.parse('2026-12-01T12:00:00.000Z');
    // Added first, so next in line; the second waiting job is younger.
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locA', 'w1'), {
      jobId: 'events-w1',
      timestamp: now - 5_000,
    });
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locA', 'w2'), {
      jobId: 'events-w2',
      timestamp: now - 1_000,
    });
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locB', 'w3'), {
      jobId: 'events-w3',
      timestamp: now - 2_000,
    });
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor(undefined, 'w4'), {
      jobId: 'events-w4',
      timestamp: now - 3_000,
    });
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locB', 'd1'), { jobId: 'events-d1', delay: 60_000 });
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locC', 'p1'), { jobId: 'events-p1', priority: 5 });
    await queue.add(TASK_UPDATE_JOB_NAME, { not: 'a task update' }, { jobId: 'events-bad', delay: 60_000 });

    // One job taken and kept active, one completed and one failed, by a worker driven by hand.
    const worker = new Worker(TASK_UPDATES_QUEUE, null, { connection, prefix, autorun: false });
    cleanups.push(() => worker.close());
    const taken = [];
    for (let i = 0; i < 3; i += 1) taken.push(await worker.getNextJob(`token-${i}`));
    const [first, second] = taken;
    await first?.moveToCompleted({ ok: true }, 'token-0', false);
    await second?.moveToFailed(new Error('boom'), 'token-1', false);

    // Jobs without a priority go before prioritized ones: w1, w2, w3 were taken; w4 is next in line.
    expect(taken.map((job) => job?.id)).toEqual(['events-w1', 'events-w2', 'events-w3']);

    const stats = await readQueueStats(queue, { now });

    expect(stats.counts).toEqual({
      waiting: 1,
      active: 1,
      delayed: 2,
      prioritized: 1,
      'waiting-children': 0,
      completed: 1,
      failed: 1,
    });
    expect(stats.oldestWaitingAgeMs).toBe(3_000);
    expect(await readOldestWaitingAgeMs(queue, now)).toBe(3_000);
    // w4 has no location; the invalid job neither; d1 is delayed for locB, p1 prioritized for locC.
    expect(stats.backlogByLocation).toEqual({ [DEFAULT_LOCATION_KEY]: 2, locB: 1, locC: 1 });
    expect(stats).toMatchObject({ scanned: 4, truncated: false });
  });

  it('When the backlog is larger than maxScan, then only maxScan jobs are read and the stats say truncated', async () => {
    const { queue } = openQueue();
    for (let i = 0; i < 5; i += 1) {
      await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locA', `k${i}`), { jobId: `events-k${i}` });
    }

    const stats = await readQueueStats(queue, { maxScan: 3 });

    expect(stats.counts.waiting).toBe(5);
    expect(stats).toMatchObject({ scanned: 3, truncated: true, backlogByLocation: { locA: 3 } });
    expect(await readQueueStats(queue, { maxScan: 5 })).toMatchObject({ scanned: 5, truncated: false });
  });

  it('When nothing waits, then the oldest waiting age is null and the counts are all zero', async () => {
    const { queue } = openQueue();
    await queue.add(TASK_UPDATE_JOB_NAME, jobFor('locA', 'later'), { jobId: 'events-later', delay: 60_000 });

    const stats = await readQueueStats(queue);

    expect(stats.oldestWaitingAgeMs).toBeNull();
    expect(await readOldestWaitingAgeMs(queue)).toBeNull();
    expect(Object.values(stats.counts).reduce((a, b) => a + b, 0)).toBe(1);
    expect(stats.backlogByLocation).toEqual({ locA: 1 });
  });
});
