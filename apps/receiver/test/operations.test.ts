import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEAD_LETTER_QUEUE, createTaskUpdateProducer, type TaskUpdateProducer } from '@closeloop/queue';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { Queue } from 'bullmq';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { ReceiverCounters, mergePrometheusTexts } from '../src/metrics.js';
import {
  API_KEY,
  createWebhookSecret,
  expectError,
  postInternal,
  postWebhook,
  sampleEvent,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

describe('Health, readiness, metrics and request ids', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('When /healthz is requested, then 200', async () => {
    const response = await fetch(`${receiver.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('When Redis answers, then /readyz is 200', async () => {
    const response = await fetch(`${receiver.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });

  it('When /metrics is scraped, then it has BullMQ gauges for both queues and the receiver counters, each family once', async () => {
    const secret = receiver.config.webhookSecrets[0] ?? '';
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(secret, body, { id: 'metrics-1' });
    expect((await postWebhook(receiver.url, body, headers)).status).toBe(202);
    expect((await postWebhook(receiver.url, body, headers)).status).toBe(202);
    expect((await postInternal(receiver.url, '{')).status).toBe(400);

    const response = await fetch(`${receiver.url}/metrics`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^bullmq_job_count\{queue="task-updates", state="waiting".*\} 1$/m);
    expect(text).toMatch(/^bullmq_job_count\{queue="task-updates-dead", state="waiting".*\} 0$/m);
    expect(text).toContain('closeloop_receiver_accepted_total{source="events"} 1');
    expect(text).toContain('closeloop_receiver_duplicates_total{source="events"} 1');
    expect(text).toContain('closeloop_receiver_rejected_total{code="INVALID_JSON"} 1');
    expect(text).toContain('closeloop_receiver_queue_metrics_up 1');
    // The text format allows one HELP and one TYPE per family (BullMQ repeats them per queue).
    const helps = text.split('\n').filter((line) => line.startsWith('# HELP '));
    expect(new Set(helps).size).toBe(helps.length);
    expect(helps.filter((line) => line.startsWith('# HELP bullmq_job_count '))).toHaveLength(1);
  });

  it('When the caller sends a sane x-request-id, then it is echoed; otherwise a new one is made', async () => {
    const given = await fetch(`${receiver.url}/healthz`, { headers: { 'x-request-id': 'lb-1234.abc' } });
    expect(given.headers.get('x-request-id')).toBe('lb-1234.abc');

    const none = await fetch(`${receiver.url}/healthz`);
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const odd = await fetch(`${receiver.url}/healthz`, { headers: { 'x-request-id': 'a b <script>' } });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('Logs', () => {
  const secret = createWebhookSecret();
  const admin = { user: 'operator', password: 'board-password-for-log-test' };
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver({
      WEBHOOK_SECRET: secret,
      ADMIN_USER: admin.user,
      ADMIN_PASSWORD: admin.password,
      LOG_LEVEL: 'trace',
    });
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('When requests carry signatures, keys and passwords, then no log line contains any of them, even at trace', async () => {
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(secret, body);
    await postWebhook(receiver.url, body, headers);
    await postWebhook(receiver.url, body, { ...headers, 'webhook-signature': 'v1,AAAAforgedAAAA=' });
    await postInternal(receiver.url, JSON.stringify({ ...sampleEvent, idempotencyKey: 'log-1' }));
    await postInternal(receiver.url, '{}', { authorization: 'Bearer wrong-but-secret-looking-key' });
    await fetch(`${receiver.url}/admin/queues/api/queues`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${admin.user}:${admin.password}`).toString('base64')}`,
      },
    });

    const logs = receiver.logs.join('');
    for (const secretValue of [
      secret,
      secret.slice('whsec_'.length),
      headers['webhook-signature']?.slice(3) ?? '',
      'AAAAforgedAAAA',
      API_KEY,
      'wrong-but-secret-looking-key',
      admin.password,
      Buffer.from(`${admin.user}:${admin.password}`).toString('base64'),
    ]) {
      expect(logs).not.toContain(secretValue);
    }
  });

  it('When a request is answered, then one access line carries its request id, status and error code', async () => {
    await fetch(`${receiver.url}/nope`, { headers: { 'x-request-id': 'trace-me-42' } });
    const line = receiver.logs
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((entry) => entry.requestId === 'trace-me-42' && entry.msg === 'request');
    expect(line).toMatchObject({ level: 30, path: '/nope', status: 404, code: 'NOT_FOUND' });
  });

  it('When the level is debug or lower, then the accepted event is logged; at info it is not', async () => {
    const debugLines = receiver.logs.filter((text) => text.includes('"msg":"body"'));
    expect(debugLines.length).toBeGreaterThan(0);

    const quiet = await startTestReceiver({ LOG_LEVEL: 'info' });
    try {
      await postInternal(quiet.url, JSON.stringify({ ...sampleEvent, idempotencyKey: 'quiet-1' }));
      expect(quiet.logs.join('')).not.toContain('ZD-4711');
    } finally {
      await quiet.close();
    }
  });
});

describe('Sources left unconfigured', () => {
  it('When WEBHOOK_SECRET is unset, then POST /webhooks/events answers 503 SOURCE_NOT_CONFIGURED', async () => {
    const receiver = await startTestReceiver({ WEBHOOK_SECRET: undefined });
    try {
      const body = JSON.stringify(sampleEvent);
      const response = await postWebhook(receiver.url, body, signedHeaders(createWebhookSecret(), body));
      await expectError(response, 503, 'SOURCE_NOT_CONFIGURED');
      expect(
        (await postInternal(receiver.url, JSON.stringify({ ...sampleEvent, idempotencyKey: 'k' }))).status,
      ).toBe(202);
    } finally {
      await receiver.close();
    }
  });

  it('When INTERNAL_API_KEY is unset, then POST /v1/task-updates answers 503 SOURCE_NOT_CONFIGURED', async () => {
    const receiver = await startTestReceiver({ INTERNAL_API_KEY: undefined });
    try {
      const response = await postInternal(
        receiver.url,
        JSON.stringify({ ...sampleEvent, idempotencyKey: 'k' }),
      );
      await expectError(response, 503, 'SOURCE_NOT_CONFIGURED');
    } finally {
      await receiver.close();
    }
  });
});

describe('An unexpected failure inside the receiver', () => {
  let producer: TaskUpdateProducer;
  let deadLetterQueue: Queue;
  let server: Server;
  let url: string;
  const logs: string[] = [];

  /** Stands in for a bug: throws after the job is stored, with a detail that must not leak. */
  class ExplodingCounters extends ReceiverCounters {
    override countAccepted(): void {
      throw new Error('bug detail: counters exploded at /srv/closeloop');
    }
  }

  beforeAll(async () => {
    const prefix = uniquePrefix('receiver-500');
    const config = loadConfig({ REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, INTERNAL_API_KEY: API_KEY });
    producer = await createTaskUpdateProducer({ redisUrl: config.redisUrl, prefix });
    deadLetterQueue = new Queue(DEAD_LETTER_QUEUE, { connection: producer.redis, prefix });
    const logger = createLogger('info', { write: (line: string) => void logs.push(line) });
    const app = createApp({ config, producer, logger, deadLetterQueue, counters: new ExplodingCounters([]) });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await producer.queue.obliterate({ force: true });
    await deadLetterQueue.close();
    await producer.close();
  });

  it('When a handler throws something unforeseen, then a bare 500 INTERNAL, and the log has the error with the request id', async () => {
    const response = await fetch(`${url}/v1/task-updates`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        'x-request-id': 'req-500',
      },
      body: JSON.stringify({ ...sampleEvent, idempotencyKey: 'boom' }),
    });

    const error = await expectError(response, 500, 'INTERNAL');
    expect(error).toEqual({ code: 'INTERNAL', message: 'Internal error' });
    const logged = logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((entry) => entry.level === 50);
    expect(logged).toMatchObject({ requestId: 'req-500', msg: 'unexpected error' });
    expect(JSON.stringify(logged)).toContain('counters exploded');
  });
});

describe('mergePrometheusTexts', () => {
  it('When two expositions repeat a family, then its HELP/TYPE appear once with all samples together', () => {
    const a =
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="a"} 1\n# HELP y Y\n# TYPE y gauge\ny{q="a"} 2';
    const b =
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="b"} 3\n# HELP y Y\n# TYPE y gauge\ny{q="b"} 4';
    expect(mergePrometheusTexts([a, b])).toBe(
      '# HELP x_total X\n# TYPE x_total counter\nx_total{q="a"} 1\nx_total{q="b"} 3\n' +
        '# HELP y Y\n# TYPE y gauge\ny{q="a"} 2\ny{q="b"} 4\n',
    );
  });
});
