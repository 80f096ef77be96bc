import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { jobIdFor } from '@closeloop/queue';
import { parsePrometheusText } from '@closeloop/runtime';
import { startRedisServer, waitFor, type LocalRedis } from '@closeloop/test-support';
import { Redis } from 'ioredis';
import {
  expectError,
  postInternal,
  postWebhook,
  sampleEvent,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

/** Milliseconds `work` took, and its result. */
async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

async function readyStatus(receiver: TestReceiver): Promise<number> {
  const response = await fetch(`${receiver.url}/readyz`);
  await response.body?.cancel();
  return response.status;
}

// These tests stop and pause Redis: they use their own redis-server, never the suite's shared one.
describe('When Redis goes away and comes back', () => {
  let redis: LocalRedis;
  let receiver: TestReceiver;

  beforeAll(async () => {
    redis = await startRedisServer();
    receiver = await startTestReceiver({}, { redisUrl: redis.url });
  });
  afterAll(async () => {
    await receiver.close();
    await redis.dispose();
  });

  it('When Redis is stopped, then a valid request gets 503 QUEUE_UNAVAILABLE with Retry-After: 1 in under a second', async () => {
    await redis.stop();

    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'during-outage' });
    const internal = await timed(() => postInternal(receiver.url, body));
    const secret = receiver.config.webhookSecrets[0] ?? '';
    const event = JSON.stringify(sampleEvent);
    const webhook = await timed(() => postWebhook(receiver.url, event, signedHeaders(secret, event)));

    for (const { ms, value: response } of [internal, webhook]) {
      expect(ms).toBeLessThan(1_000);
      expect(response.headers.get('retry-after')).toBe('1');
      await expectError(response, 503, 'QUEUE_UNAVAILABLE');
    }
  });

  it('When Redis is stopped, then /readyz answers 503 within a second while /healthz stays 200', async () => {
    const ready = await timed(() => fetch(`${receiver.url}/readyz`));
    expect(ready.ms).toBeLessThan(1_000);
    await expectError(ready.value, 503, 'QUEUE_UNAVAILABLE');
    expect((await fetch(`${receiver.url}/healthz`)).status).toBe(200);
  });

  it('When Redis is stopped, then the admin /metrics still answers within a second with the receiver counters and queue_metrics_up 0', async () => {
    const metrics = await timed(() => fetch(`${receiver.adminUrl}/metrics`));
    expect(metrics.ms).toBeLessThan(1_000);
    expect(metrics.value.status).toBe(200);
    const samples = parsePrometheusText(await metrics.value.text());
    expect(samples.find((sample) => sample.name === 'closeloop_receiver_queue_metrics_up')?.value).toBe(0);
    expect(
      samples.find(
        (sample) =>
          sample.name === 'closeloop_receiver_rejected_total' && sample.labels.code === 'QUEUE_UNAVAILABLE',
      )?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(samples.some((sample) => sample.name === 'bullmq_job_count')).toBe(false);
  });

  it('When Redis is stopped, then the admin /readyz answers 503 NOT_READY within a second while its /healthz stays 200', async () => {
    const ready = await timed(() => fetch(`${receiver.adminUrl}/readyz`));
    expect(ready.ms).toBeLessThan(1_000);
    await expectError(ready.value, 503, 'NOT_READY');
    expect((await fetch(`${receiver.adminUrl}/healthz`)).status).toBe(200);
  });

  it('When Redis is back, then the same receiver accepts again without a restart and the job is in Redis', async () => {
    await redis.restart();
    await waitFor(async () => (await readyStatus(receiver)) === 200, {
      description: '/readyz to answer 200',
    });

    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'during-outage' });
    const response = await postInternal(receiver.url, body);

    expect(response.status).toBe(202);
    // The request refused during the outage left nothing behind: its retry is new, not a duplicate.
    expect(await response.json()).toEqual({ jobId: jobIdFor('internal', 'during-outage'), duplicate: false });
    await waitFor(() => receiver.redis.status === 'ready', { description: 'the test connection' });
    expect((await receiver.tasks.getJob(jobIdFor('internal', 'during-outage')))?.data.idempotencyKey).toBe(
      'during-outage',
    );
  });

  it('When Redis accepts connections but does not answer (CLIENT PAUSE), then 503 within a second, and the retry lands exactly once', async () => {
    const admin = new Redis(redis.url);
    try {
      // Pauses every client's commands for 1.5 s: longer than the producer's 1 s command timeout.
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'during-pause' });
      const paused = await timed(() => postInternal(receiver.url, body));
      expect(paused.ms).toBeLessThan(1_000);
      expect(paused.value.headers.get('retry-after')).toBe('1');
      await expectError(paused.value, 503, 'QUEUE_UNAVAILABLE');

      await waitFor(async () => (await readyStatus(receiver)) === 200, { description: 'the pause to end' });
      const retry = await postInternal(receiver.url, body);
      // Whether the paused attempt's writes landed after its 503 or not, the sender's retry is
      // accepted and there is exactly one job for the key.
      expect(retry.status).toBe(202);
      const jobs = await receiver.tasks.getJobs(['waiting']);
      expect(jobs.filter((job) => job.data.idempotencyKey === 'during-pause')).toHaveLength(1);
    } finally {
      admin.disconnect();
    }
  });
});

describe('When Redis is down at start-up', () => {
  let redis: LocalRedis;
  let receiver: TestReceiver;
  const board = { user: 'admin', password: 'board-password-123' };

  beforeAll(async () => {
    // A port where Redis will start later: stop() keeps the port and restart() uses it again.
    redis = await startRedisServer();
    await redis.stop();
    receiver = await startTestReceiver(
      { ADMIN_USER: board.user, ADMIN_PASSWORD: board.password },
      { redisUrl: redis.url, waitForRedis: false },
    );
  });
  afterAll(async () => {
    await receiver.close();
    await redis.dispose();
  });

  it('When Redis has never answered, then /metrics answers 200 with queue_metrics_up 0, authentication still comes first, and Bull Board does not crash the receiver', async () => {
    const metrics = await timed(() => fetch(`${receiver.adminUrl}/metrics`));
    expect(metrics.ms).toBeLessThan(1_000);
    expect(metrics.value.status).toBe(200);
    expect(
      parsePrometheusText(await metrics.value.text()).find(
        (sample) => sample.name === 'closeloop_receiver_queue_metrics_up',
      )?.value,
    ).toBe(0);

    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'before-redis' });
    await expectError(
      await postInternal(receiver.url, body, { authorization: 'Bearer wrong-key-0123456789abcdef' }),
      401,
      'INVALID_API_KEY',
    );

    const authorization = `Basic ${Buffer.from(`${board.user}:${board.password}`).toString('base64')}`;
    // The board's own connection waits for Redis: its answer may be an error or no answer yet.
    await fetch(`${receiver.adminUrl}/admin/queues/api/queues`, {
      headers: { authorization },
      signal: AbortSignal.timeout(500),
    }).then(
      (response) => response.body?.cancel(),
      () => undefined,
    );
    expect((await fetch(`${receiver.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${receiver.adminUrl}/healthz`)).status).toBe(200);
  });

  it('When Redis is down at start-up, then the receiver listens, /healthz is 200, /readyz and enqueue answer 503 within a second, and once Redis starts the same request is accepted with 202', async () => {
    const health = await fetch(`${receiver.url}/healthz`);
    expect(health.status).toBe(200);

    const ready = await timed(() => fetch(`${receiver.url}/readyz`));
    expect(ready.ms).toBeLessThan(1_000);
    await expectError(ready.value, 503, 'QUEUE_UNAVAILABLE');

    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'before-redis' });
    const internal = await timed(() => postInternal(receiver.url, body));
    const secret = receiver.config.webhookSecrets[0] ?? '';
    const event = JSON.stringify(sampleEvent);
    const webhook = await timed(() => postWebhook(receiver.url, event, signedHeaders(secret, event)));
    for (const { ms, value: response } of [internal, webhook]) {
      expect(ms).toBeLessThan(1_000);
      expect(response.headers.get('retry-after')).toBe('1');
      await expectError(response, 503, 'QUEUE_UNAVAILABLE');
    }

    await redis.restart();
    await waitFor(async () => (await readyStatus(receiver)) === 200, {
      description: '/readyz to answer 200',
    });
    const response = await postInternal(receiver.url, body);

    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ jobId: jobIdFor('internal', 'before-redis'), duplicate: false });
    await waitFor(() => receiver.redis.status === 'ready', { description: 'the test connection' });
    expect((await receiver.tasks.getJob(jobIdFor('internal', 'before-redis')))?.data.idempotencyKey).toBe(
      'before-redis',
    );
  });
});
