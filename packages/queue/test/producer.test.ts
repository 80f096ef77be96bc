import { afterEach, describe, expect, it } from '@jest/globals';
import { findFreePort, startRedisServer, testRedisUrl, uniquePrefix, waitFor } from '@closeloop/test-support';
import { UnrecoverableError, Worker } from 'bullmq';
import { ZodError } from 'zod';
import {
  DEDUPE_TTL_SECONDS,
  EXAMPLE_TASK_EVENT,
  createRedisConnection,
  createTaskUpdateProducer,
  dedupeKeyFor,
  enqueueTaskUpdate,
  jobIdFor,
  openTaskUpdateProducer,
  type TaskEvent,
  type TaskUpdateProducer,
} from '../src/index.js';

const event = EXAMPLE_TASK_EVENT;

describe('enqueueTaskUpdate', () => {
  const opened: TaskUpdateProducer[] = [];
  const open = async (redisUrl = testRedisUrl()): Promise<TaskUpdateProducer> => {
    const producer = await createTaskUpdateProducer({ redisUrl, prefix: uniquePrefix('queue') });
    opened.push(producer);
    return producer;
  };
  afterEach(async () => {
    for (const producer of opened.splice(0)) {
      if (producer.redis.status === 'ready') await producer.queue.obliterate({ force: true });
      await producer.close();
    }
  });

  it('When an event is enqueued, then Redis holds a v1 job under the deterministic id', async () => {
    const producer = await open();
    const result = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'msg_1', event });
    expect(result).toEqual({ jobId: jobIdFor('events', 'msg_1'), duplicate: false });
    expect(result.jobId).not.toContain(':');
    expect(result.jobId).not.toMatch(/^\d+$/);
    const job = await producer.queue.getJob(result.jobId);
    expect(job?.data).toMatchObject({ v: 1, source: 'events', idempotencyKey: 'msg_1', event });
    expect(await job?.getState()).toBe('waiting');
    const ttl = await producer.redis.ttl(dedupeKeyFor(producer.prefix, result.jobId));
    expect(ttl).toBeGreaterThan(DEDUPE_TTL_SECONDS - 5);
  });

  it('When the same key arrives again, then it is a duplicate and the job is unchanged', async () => {
    const producer = await open();
    const first = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'msg_2', event });
    const again = await enqueueTaskUpdate(producer, {
      source: 'events',
      idempotencyKey: 'msg_2',
      event: { ...event, type: 'ticket.reopened' },
    });
    expect(again).toEqual({ jobId: first.jobId, duplicate: true });
    expect((await producer.queue.getJob(first.jobId))?.data.event.type).toBe('ticket.closed');
    expect(await producer.queue.count()).toBe(1);
  });

  it('When the first job was already removed, then a redelivery is still a duplicate and nothing is re-added', async () => {
    const producer = await open();
    const first = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'msg_3', event });
    await producer.queue.remove(first.jobId);
    const again = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'msg_3', event });
    expect(again.duplicate).toBe(true);
    expect(await producer.queue.getJob(first.jobId)).toBeUndefined();
  });

  it('When the dedupe record has expired but the failed job is still kept, then reusing its key is a duplicate, and every answer "duplicate: false" stands for a job that holds the event', async () => {
    const producer = await open();
    const reopened: TaskEvent = { ...event, type: 'ticket.reopened' };
    const send = async (e: TaskEvent) => {
      const result = await enqueueTaskUpdate(producer, {
        source: 'events',
        idempotencyKey: 'msg_kept',
        event: e,
      });
      // The invariant behind 202 "duplicate: false": the event sent is now a job in Redis.
      if (!result.duplicate) expect((await producer.queue.getJob(result.jobId))?.data.event).toEqual(e);
      return result;
    };
    const first = await send(event);
    expect(first.duplicate).toBe(false);
    await failByHand(producer);
    // What the 72 h expiry does while the failed job is kept for 30 days.
    await producer.redis.del(dedupeKeyFor(producer.prefix, first.jobId));

    expect(await send(reopened)).toEqual({ jobId: first.jobId, duplicate: true });
    expect((await producer.queue.getJob(first.jobId))?.data.event).toEqual(event);

    // Once the job is gone as well, the key is free and the new event is stored.
    await producer.queue.remove(first.jobId);
    await producer.redis.del(dedupeKeyFor(producer.prefix, first.jobId));
    expect(await send(reopened)).toEqual({ jobId: first.jobId, duplicate: false });
  });

  it('When many deliveries of one key race, then exactly one reports a new job', async () => {
    const producer = await open();
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        enqueueTaskUpdate(producer, { source: 'internal', idempotencyKey: 'race', event }),
      ),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await producer.queue.count()).toBe(1);
  });

  it('When the same key comes from two sources, then they are two jobs', async () => {
    const producer = await open();
    const a = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'k', event });
    const b = await enqueueTaskUpdate(producer, { source: 'internal', idempotencyKey: 'k', event });
    expect(a.jobId).not.toBe(b.jobId);
    expect(b.duplicate).toBe(false);
  });

  it('When the data does not match the job schema, then it throws and nothing is enqueued', async () => {
    const producer = await open();
    const bad = { ...event, ghl: { contactId: '../x', taskId: 't' } } as TaskEvent;
    await expect(
      enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'k', event: bad }),
    ).rejects.toThrow(ZodError);
    expect(await producer.queue.count()).toBe(0);
  });

  it('When Redis is down, then enqueue rejects within a second, and works again once Redis is back', async () => {
    const redis = await startRedisServer();
    const producer = await createTaskUpdateProducer({ redisUrl: redis.url, prefix: uniquePrefix('queue') });
    try {
      await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'before', event });
      await redis.stop();
      const started = Date.now();
      await expect(
        enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'during', event }),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_000);
      await redis.restart();
      await waitFor(() => producer.redis.status === 'ready', { description: 'the producer to reconnect' });
      const after = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'during', event });
      expect(after.duplicate).toBe(false);
    } finally {
      await producer.close();
      await redis.dispose();
    }
  });

  it('When the producer is opened while Redis is down, then enqueue rejects within a second, and once Redis starts the same enqueue is stored', async () => {
    const redis = await startRedisServer();
    await redis.stop();
    const producer = openTaskUpdateProducer({ redisUrl: redis.url, prefix: uniquePrefix('queue') });
    try {
      const started = Date.now();
      await expect(
        enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'early', event }),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(1_000);

      await redis.restart();
      await waitFor(() => producer.redis.status === 'ready', { description: 'the producer to connect' });
      const after = await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'early', event });
      expect(after).toEqual({ jobId: jobIdFor('events', 'early'), duplicate: false });
      expect((await producer.queue.getJob(after.jobId))?.data.idempotencyKey).toBe('early');
    } finally {
      await producer.close();
      await redis.dispose();
    }
  });

  it('When a producer is closed before Redis ever answered, then close resolves within a second and the connection ends', async () => {
    const nobody = await findFreePort();
    const producer = openTaskUpdateProducer({
      redisUrl: `redis://127.0.0.1:${nobody}`,
      prefix: uniquePrefix('queue'),
    });
    const started = Date.now();
    await producer.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    // No reconnect timer is left behind: the connection ends instead of retrying.
    await waitFor(() => producer.redis.status === 'end', { description: 'the connection to end' });
  });
});

/** Takes the next waiting job and fails it for good, as the worker does with a dead letter. */
async function failByHand(producer: TaskUpdateProducer): Promise<void> {
  const connection = createRedisConnection(testRedisUrl(), 'worker');
  const worker = new Worker(producer.queue.name, null, { connection, prefix: producer.prefix });
  try {
    const job = await worker.getNextJob('hand');
    if (!job) throw new Error('no job to fail');
    await job.moveToFailed(new UnrecoverableError('GHL_NOT_FOUND: gone'), 'hand');
  } finally {
    await worker.close();
    await connection.quit();
  }
}
