import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTaskUpdateProducer, type TaskUpdateProducer } from '@closeloop/queue';
import { expectConfig, parsePrometheusText, type PrometheusSample } from '@closeloop/runtime';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { ReceiverMetrics } from '../src/metrics.js';
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

  it('When the admin listener is asked for /healthz and /readyz, then both are 200 on its own port', async () => {
    expect(receiver.adminUrl).not.toBe(receiver.url);
    expect(await (await fetch(`${receiver.adminUrl}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${receiver.adminUrl}/readyz`)).json()).toEqual({ status: 'ready' });
  });

  it('When /metrics is scraped on the admin listener, then BullMQ gauges for both queues, the receiver counters and the request histogram carry the right values, each family once', async () => {
    const secret = receiver.config.webhookSecrets[0] ?? '';
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(secret, body, { id: 'metrics-1' });
    expect((await postWebhook(receiver.url, body, headers)).status).toBe(202);
    expect((await postWebhook(receiver.url, body, headers)).status).toBe(202);
    expect((await postInternal(receiver.url, '{')).status).toBe(400);
    await (await fetch(`${receiver.url}/no-such-route`)).body?.cancel();

    const response = await fetch(`${receiver.adminUrl}/metrics`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const samples = parsePrometheusText(text);
    const value = (name: string, labels: Record<string, string>): number | undefined =>
      findSample(samples, name, labels)?.value;
    expect(value('bullmq_job_count', { queue: 'task-updates', state: 'waiting' })).toBe(1);
    expect(value('bullmq_job_count', { queue: 'task-updates-dead', state: 'waiting' })).toBe(0);
    expect(value('closeloop_receiver_accepted_total', { source: 'events', service: 'receiver' })).toBe(1);
    expect(value('closeloop_receiver_accepted_total', { source: 'internal' })).toBe(0);
    expect(value('closeloop_receiver_duplicates_total', { source: 'events' })).toBe(1);
    expect(value('closeloop_receiver_rejected_total', { code: 'INVALID_JSON' })).toBe(1);
    expect(value('closeloop_receiver_rejected_total', { code: 'NOT_FOUND' })).toBe(1);
    expect(value('closeloop_receiver_queue_metrics_up', {})).toBe(1);
    expect(
      value('closeloop_receiver_request_duration_seconds_count', {
        route: '/webhooks/:source',
        status_class: '2xx',
      }),
    ).toBe(2);
    expect(
      value('closeloop_receiver_request_duration_seconds_count', {
        route: '/v1/task-updates',
        status_class: '4xx',
      }),
    ).toBe(1);
    expect(
      value('closeloop_receiver_request_duration_seconds_count', { route: 'unmatched', status_class: '4xx' }),
    ).toBe(1);
    expect(
      value('closeloop_receiver_request_duration_seconds_bucket', {
        route: '/webhooks/:source',
        status_class: '2xx',
        le: '+Inf',
      }),
    ).toBe(2);
    // Node's default metrics, for the process dashboards.
    expect(
      findSample(samples, 'process_resident_memory_bytes', { service: 'receiver' })?.value,
    ).toBeGreaterThan(0);
    // The text format allows one HELP and one TYPE per family (BullMQ repeats them per queue).
    const helps = text.split('\n').filter((line) => line.startsWith('# HELP '));
    expect(new Set(helps).size).toBe(helps.length);
    expect(helps.filter((line) => line.startsWith('# HELP bullmq_job_count '))).toHaveLength(1);
  });

  it('When the webhook port is asked for /metrics or Bull Board, then 404 NOT_FOUND: both live on the admin listener', async () => {
    await expectError(await fetch(`${receiver.url}/metrics`), 404, 'NOT_FOUND');
    await expectError(await fetch(`${receiver.url}/admin/queues`), 404, 'NOT_FOUND');
    await expectError(await fetch(`${receiver.url}/admin/queues/api/queues`), 404, 'NOT_FOUND');
  });

  it('When a request path carries ids, then the histogram labels it by route pattern, never by the URL', async () => {
    await (
      await fetch(`${receiver.url}/webhooks/some-unknown-source-123`, { method: 'POST' })
    ).body?.cancel();

    const text = await (await fetch(`${receiver.adminUrl}/metrics`)).text();

    expect(text).not.toContain('some-unknown-source-123');
    expect(
      findSample(parsePrometheusText(text), 'closeloop_receiver_request_duration_seconds_count', {
        route: '/webhooks/:source',
        status_class: '4xx',
      })?.value,
    ).toBeGreaterThanOrEqual(1);
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
    await fetch(`${receiver.adminUrl}/admin/queues/api/queues`, {
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

  it('When an event is accepted, then its one access line carries the source, the job id and whether it was a duplicate', async () => {
    const response = await postInternal(
      receiver.url,
      JSON.stringify({ ...sampleEvent, idempotencyKey: 'correlate-1' }),
      { 'x-request-id': 'correlate-req-1' },
    );
    const { jobId } = (await response.json()) as { jobId: string };

    const lines = receiver.logs
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .filter((entry) => entry.requestId === 'correlate-req-1' && entry.msg === 'request');
    expect(lines).toEqual([
      expect.objectContaining({ level: 30, status: 202, source: 'internal', jobId, duplicate: false }),
    ]);
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
  let server: Server;
  let url: string;
  const logs: string[] = [];

  /** Stands in for a bug: throws after the job is stored, with a detail that must not leak. */
  class ExplodingMetrics extends ReceiverMetrics {
    override countAccepted(): void {
      throw new Error('bug detail: counters exploded at /srv/closeloop');
    }
  }

  beforeAll(async () => {
    const prefix = uniquePrefix('receiver-500');
    const config = expectConfig(
      loadConfig({ REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, INTERNAL_API_KEY: API_KEY }),
    );
    producer = await createTaskUpdateProducer({ redisUrl: config.redisUrl, prefix });
    const logger = createLogger('info', { write: (line: string) => void logs.push(line) });
    const app = createApp({ config, producer, logger, metrics: new ExplodingMetrics({ sources: [] }) });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await producer.queue.obliterate({ force: true });
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

function findSample(
  samples: PrometheusSample[],
  name: string,
  labels: Record<string, string>,
): PrometheusSample | undefined {
  return samples.find(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}
