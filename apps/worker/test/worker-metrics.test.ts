import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import {
  DEAD_LETTER_QUEUE,
  DeadLetterReason,
  EXAMPLE_TASK_EVENT,
  createTaskUpdateProducer,
  enqueueTaskUpdate,
  type TaskUpdateProducer,
} from '@closeloop/queue';
import { createMetricsRegistry, parsePrometheusText, type PrometheusSample } from '@closeloop/runtime';
import {
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
  waitFor,
  type LocalRedis,
} from '@closeloop/test-support';
import { Queue } from 'bullmq';
import { classifyGhlStatus, createWorkerMetrics, type WorkerMetrics } from '../src/worker-metrics.js';
import {
  CONTACT_A,
  LOC_A,
  TOKEN_A,
  eventFor,
  newTaskId,
  spawnWorkerProcess,
  waitForWorkerStarted,
  workerEnv,
} from './harness.js';

function find(samples: PrometheusSample[], name: string, labels: Record<string, string> = {}) {
  return samples.find(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

async function scrape(metrics: WorkerMetrics): Promise<PrometheusSample[]> {
  return parsePrometheusText(await metrics.render());
}

describe('createWorkerMetrics against a real Redis', () => {
  let producer: TaskUpdateProducer;
  let deadLetters: Queue;
  let metrics: WorkerMetrics;

  beforeAll(async () => {
    const prefix = uniquePrefix('worker-metrics');
    producer = await createTaskUpdateProducer({ redisUrl: testRedisUrl(), prefix });
    deadLetters = new Queue(DEAD_LETTER_QUEUE, { connection: producer.redis, prefix });
    metrics = createWorkerMetrics({
      registry: createMetricsRegistry({ service: 'worker', defaultMetrics: false }),
      queues: { taskUpdates: producer.queue, deadLetters },
      prefix,
      // These cases are about what the gauges count, not the deadline (its own case is below): on a
      // loaded 2-core machine BullMQ's counts read has taken longer than the 500 ms default.
      readDeadlineMs: 10_000,
    });
  });
  afterAll(async () => {
    await producer.queue.obliterate({ force: true });
    await deadLetters.obliterate({ force: true });
    await deadLetters.close();
    await producer.close();
  });

  it('When nothing happened yet, then every outcome, delay reason and dead-letter reason has a series at 0, and nothing waits', async () => {
    const samples = await scrape(metrics);

    for (const outcome of ['updated', 'stale']) {
      expect(find(samples, 'closeloop_worker_jobs_completed_total', { outcome })?.value).toBe(0);
    }
    for (const reason of ['RATE_BUDGET', 'GHL_RATE_LIMITED', 'GHL_DAILY_LIMIT', 'TASK_BUSY', 'SHUTDOWN']) {
      expect(find(samples, 'closeloop_worker_jobs_delayed_total', { reason })?.value).toBe(0);
    }
    for (const reason of DeadLetterReason.options) {
      expect(find(samples, 'closeloop_worker_jobs_dead_lettered_total', { reason })?.value).toBe(0);
    }
    expect(
      find(samples, 'closeloop_worker_queue_oldest_waiting_age_seconds', { queue: 'task-updates' })?.value,
    ).toBe(0);
    expect(find(samples, 'closeloop_worker_queue_metrics_up')?.value).toBe(1);
  });

  it('When jobs wait in both queues, then BullMQ’s depth gauges count them per queue and state, and the oldest waiting age is the event’s age', async () => {
    // Next in line: an event that has waited a minute (BullMQ keeps the add time in the job's timestamp).
    const minuteAgo = Date.now() - 60_000;
    await producer.queue.add(
      'task-update',
      {
        v: 1,
        source: 'events',
        idempotencyKey: 'old-one',
        event: EXAMPLE_TASK_EVENT,
        receivedAt: new Date(minuteAgo).toISOString(),
      },
      { jobId: 'old-one', timestamp: minuteAgo },
    );
    await enqueueTaskUpdate(producer, { source: 'events', idempotencyKey: 'm-1', event: EXAMPLE_TASK_EVENT });
    await deadLetters.add('dead-letter', { reason: 'GHL_UNPROCESSABLE' }, { jobId: 'dead-1' });

    const samples = await scrape(metrics);

    expect(find(samples, 'bullmq_job_count', { queue: 'task-updates', state: 'waiting' })?.value).toBe(2);
    expect(find(samples, 'bullmq_job_count', { queue: 'task-updates', state: 'active' })?.value).toBe(0);
    expect(find(samples, 'bullmq_job_count', { queue: 'task-updates-dead', state: 'waiting' })?.value).toBe(
      1,
    );
    const age = find(samples, 'closeloop_worker_queue_oldest_waiting_age_seconds', { queue: 'task-updates' });
    expect(age?.value).toBeGreaterThanOrEqual(60);
    expect(age?.value).toBeLessThan(120);
  });

  it('When the task worker reports outcomes, then each counter counts them under its bounded label', async () => {
    metrics.observer.onJobCompleted('updated');
    metrics.observer.onJobCompleted('updated');
    metrics.observer.onJobCompleted('stale');
    metrics.observer.onJobDelayed('GHL_RATE_LIMITED');
    metrics.observer.onJobDelayed('RATE_BUDGET');
    metrics.observer.onJobRetried('SERVER_ERROR');
    metrics.observer.onJobRetried('not a code: task 12345 of contact abc');
    metrics.observer.onJobDeadLettered('GHL_UNPROCESSABLE');

    const samples = await scrape(metrics);

    expect(find(samples, 'closeloop_worker_jobs_completed_total', { outcome: 'updated' })?.value).toBe(2);
    expect(find(samples, 'closeloop_worker_jobs_completed_total', { outcome: 'stale' })?.value).toBe(1);
    expect(find(samples, 'closeloop_worker_jobs_delayed_total', { reason: 'GHL_RATE_LIMITED' })?.value).toBe(
      1,
    );
    expect(find(samples, 'closeloop_worker_jobs_delayed_total', { reason: 'RATE_BUDGET' })?.value).toBe(1);
    expect(find(samples, 'closeloop_worker_jobs_retried_total', { code: 'SERVER_ERROR' })?.value).toBe(1);
    // Free text never becomes a label value.
    expect(find(samples, 'closeloop_worker_jobs_retried_total', { code: 'OTHER' })?.value).toBe(1);
    expect(
      find(samples, 'closeloop_worker_jobs_dead_lettered_total', { reason: 'GHL_UNPROCESSABLE' })?.value,
    ).toBe(1);
  });

  it('When GHL calls are reported, then the latency histogram counts them by operation and status class, and 429s are counted', async () => {
    const operation = 'PUT /contacts/{contactId}/tasks/{taskId}/completed';
    metrics.onGhlCall({ method: 'PUT', operation, status: 200, code: undefined, durationMs: 120 });
    metrics.onGhlCall({ method: 'PUT', operation, status: 200, code: undefined, durationMs: 3_000 });
    metrics.onGhlCall({ method: 'PUT', operation, status: 429, code: 'RATE_LIMITED', durationMs: 40 });
    metrics.onGhlCall({ method: 'PUT', operation, status: undefined, code: 'TIMEOUT', durationMs: 2_000 });

    const samples = await scrape(metrics);
    const bucket = (statusClass: string, le: string) =>
      find(samples, 'closeloop_worker_ghl_request_duration_seconds_bucket', {
        operation,
        status_class: statusClass,
        le,
      })?.value;

    expect(bucket('2xx', '0.25')).toBe(1);
    expect(bucket('2xx', '2.5')).toBe(1);
    expect(bucket('2xx', '5')).toBe(2);
    expect(bucket('2xx', '+Inf')).toBe(2);
    expect(
      find(samples, 'closeloop_worker_ghl_request_duration_seconds_sum', { operation, status_class: '2xx' })
        ?.value,
    ).toBeCloseTo(3.12, 5);
    expect(bucket('429', '0.05')).toBe(1);
    expect(bucket('network', '+Inf')).toBe(1);
    expect(find(samples, 'closeloop_worker_ghl_rate_limited_total', { operation })?.value).toBe(1);
  });

  it('When the exposition is read, then no label carries a task, contact or location id', async () => {
    const text = await metrics.render();
    for (const id of Object.values(EXAMPLE_TASK_EVENT.ghl ?? {})) expect(text).not.toContain(String(id));
  });
});

describe('classifyGhlStatus', () => {
  it.each([
    [200, '2xx'],
    [201, '2xx'],
    [302, '3xx'],
    [400, '4xx'],
    [422, '4xx'],
    [429, '429'],
    [500, '5xx'],
    [503, '5xx'],
    [undefined, 'network'],
  ] as const)('When GHL answers %s, then the class is %s', (status, statusClass) => {
    expect(classifyGhlStatus(status)).toBe(statusClass);
  });
});

describe('createWorkerMetrics while Redis is away', () => {
  let redis: LocalRedis;
  let producer: TaskUpdateProducer;
  let deadLetters: Queue;

  beforeAll(async () => {
    redis = await startRedisServer();
    producer = await createTaskUpdateProducer({ redisUrl: redis.url, prefix: uniquePrefix('wm-outage') });
    deadLetters = new Queue(DEAD_LETTER_QUEUE, { connection: producer.redis, prefix: producer.prefix });
    deadLetters.on('error', () => undefined);
  });
  afterAll(async () => {
    await deadLetters.close();
    await producer.close();
    await redis.dispose();
  });

  it('When Redis is stopped, then a scrape answers within a second with the counters, queue_metrics_up 0 and no queue gauges', async () => {
    const metrics = createWorkerMetrics({
      registry: createMetricsRegistry({ service: 'worker', defaultMetrics: false }),
      queues: { taskUpdates: producer.queue, deadLetters },
      readDeadlineMs: 300,
    });
    metrics.observer.onJobCompleted('updated');
    expect(find(await scrape(metrics), 'closeloop_worker_queue_metrics_up')?.value).toBe(1);

    await redis.stop();
    const started = Date.now();
    const samples = await scrape(metrics);

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(find(samples, 'closeloop_worker_queue_metrics_up')?.value).toBe(0);
    expect(find(samples, 'closeloop_worker_jobs_completed_total', { outcome: 'updated' })?.value).toBe(1);
    expect(find(samples, 'bullmq_job_count')).toBeUndefined();
    // Unknown, not 0: a zero age during an outage would hide a stuck queue.
    expect(find(samples, 'closeloop_worker_queue_oldest_waiting_age_seconds')).toBeUndefined();
  });
});

interface WorkerProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly exited: Promise<number | null>;
  output(): string;
}

/** The worker as a process (harness.ts), once it logged its metrics URL. */
async function spawnWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const spawned = spawnWorkerProcess(env);
  const started = await waitForWorkerStarted(spawned);
  return {
    child: spawned.child,
    exited: spawned.exited.then(({ code }) => code),
    output: spawned.output,
    baseUrl: (typeof started.metricsUrl === 'string' ? started.metricsUrl : '').replace(/\/metrics$/, ''),
  };
}

describe('the worker process on METRICS_PORT', () => {
  let redis: LocalRedis;
  let sandbox: RunningSandbox;
  const processes: WorkerProcess[] = [];
  const start = async (prefix = uniquePrefix('wm-process')): Promise<WorkerProcess> => {
    const env = workerEnv(sandbox.url, prefix, { REDIS_URL: redis.url, LOG_LEVEL: 'info' });
    const worker = await spawnWorker(env);
    processes.push(worker);
    return worker;
  };
  const scrapeProcess = async (worker: WorkerProcess): Promise<PrometheusSample[]> =>
    parsePrometheusText(await (await fetch(`${worker.baseUrl}/metrics`)).text());

  beforeAll(async () => {
    redis = await startRedisServer();
    sandbox = await startSandbox();
    await sandbox.control.seed({
      locations: [{ id: LOC_A, tokens: [TOKEN_A] }],
      contacts: [{ id: CONTACT_A, locationId: LOC_A, email: 'a@example.com' }],
    });
  });
  afterAll(async () => {
    for (const worker of processes) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGKILL');
        await worker.exited;
      }
    }
    await sandbox.close();
    await redis.dispose();
  });

  it('When the worker runs, then /healthz, /readyz and /metrics answer on its metrics port; on SIGTERM it exits 0 and the port closes', async () => {
    const worker = await start();
    expect(worker.baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${worker.baseUrl}/healthz`)).status).toBe(200);
    await waitFor(async () => (await fetch(`${worker.baseUrl}/readyz`)).status === 200, {
      description: '/readyz to be 200',
    });

    const response = await fetch(`${worker.baseUrl}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parsePrometheusText(await response.text());
    expect(find(samples, 'closeloop_worker_queue_metrics_up', { service: 'worker' })?.value).toBe(1);
    expect(find(samples, 'bullmq_job_count', { queue: 'task-updates', state: 'waiting' })?.value).toBe(0);
    expect(find(samples, 'process_resident_memory_bytes', { service: 'worker' })?.value).toBeGreaterThan(0);

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    await expect(fetch(`${worker.baseUrl}/healthz`)).rejects.toThrow();
  });

  it('When jobs meet GHL’s 200, 429 and 422, then /metrics counts them completed, delayed by 429 and dead-lettered GHL_UNPROCESSABLE, with the GHL latency per status class', async () => {
    const prefix = uniquePrefix('wm-jobs');
    const worker = await start(prefix);
    const producer = await createTaskUpdateProducer({ redisUrl: redis.url, prefix });
    const deadLetters = new Queue(DEAD_LETTER_QUEUE, { connection: producer.redis, prefix });
    try {
      const [ok, limited, refused] = [newTaskId('ok'), newTaskId('limited'), newTaskId('refused')];
      await sandbox.control.seed({
        tasks: [ok, limited, refused].map((id) => ({
          id,
          contactId: CONTACT_A,
          title: `Task ${id}`,
          completed: false,
        })),
      });
      await sandbox.control.injectFault({
        status: 429,
        headers: { 'retry-after': '1' },
        taskId: limited,
        count: 1,
      });
      await sandbox.control.injectFault({
        status: 422,
        body: {
          statusCode: 422,
          message: ['completed must be a boolean value'],
          error: 'Unprocessable Entity',
        },
        taskId: refused,
        count: 1,
      });
      for (const taskId of [ok, limited, refused]) {
        await enqueueTaskUpdate(producer, {
          source: 'events',
          idempotencyKey: taskId,
          event: eventFor(taskId),
        });
      }

      const samples = await waitFor(
        async () => {
          const current = await scrapeProcess(worker);
          const updated = find(current, 'closeloop_worker_jobs_completed_total', {
            outcome: 'updated',
          })?.value;
          const dead = find(current, 'closeloop_worker_jobs_dead_lettered_total', {
            reason: 'GHL_UNPROCESSABLE',
          });
          // BullMQ marks a job completed just after our counter moves: wait for both.
          const settled = find(current, 'bullmq_job_count', {
            queue: 'task-updates',
            state: 'completed',
          })?.value;
          return updated === 2 && dead?.value === 1 && settled === 2 ? current : undefined;
        },
        { timeoutMs: 20_000, description: 'two jobs completed and one dead-lettered in /metrics' },
      );

      expect(
        find(samples, 'closeloop_worker_jobs_delayed_total', { reason: 'GHL_RATE_LIMITED' })?.value,
      ).toBe(1);
      expect(
        find(samples, 'closeloop_worker_ghl_rate_limited_total', { operation: 'completeTask' })?.value,
      ).toBe(1);
      const count = (statusClass: string) =>
        find(samples, 'closeloop_worker_ghl_request_duration_seconds_count', {
          operation: 'completeTask',
          status_class: statusClass,
        })?.value;
      expect([count('2xx'), count('429'), count('4xx')]).toEqual([2, 1, 1]);
      const buckets = samples.filter(
        (sample) =>
          sample.name === 'closeloop_worker_ghl_request_duration_seconds_bucket' &&
          sample.labels.status_class === '2xx',
      );
      expect(buckets.map((sample) => sample.labels.le)).toEqual([
        '0.05',
        '0.1',
        '0.25',
        '0.5',
        '1',
        '2.5',
        '5',
        '10',
        '15',
        '30',
        '+Inf',
      ]);
      expect(buckets.at(-1)?.value).toBe(2);
      expect(find(samples, 'bullmq_job_count', { queue: 'task-updates', state: 'completed' })?.value).toBe(2);
      expect(find(samples, 'bullmq_job_count', { queue: 'task-updates-dead', state: 'waiting' })?.value).toBe(
        1,
      );
      // GHL's answers as the sandbox recorded them: the metrics describe what really happened.
      expect((await sandbox.control.calls({ path: limited })).map((call) => call.status)).toEqual([429, 200]);
      expect((await sandbox.control.calls({ path: refused })).map((call) => call.status)).toEqual([422]);
      expect(await deadLetters.count()).toBe(1);
    } finally {
      await deadLetters.close();
      await producer.close();
    }
  });

  it('When Redis is stopped, then /readyz answers 503 within its deadline, /healthz stays 200 and /metrics still answers with queue_metrics_up 0; once it is back, SIGTERM drains: exit 0, clean', async () => {
    const worker = await start();
    await waitFor(async () => (await fetch(`${worker.baseUrl}/readyz`)).status === 200, {
      description: '/readyz to be 200',
    });
    await redis.stop();

    const started = Date.now();
    const ready = await fetch(`${worker.baseUrl}/readyz`);
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ error: { code: 'NOT_READY' } });
    expect((await fetch(`${worker.baseUrl}/healthz`)).status).toBe(200);
    const metrics = await fetch(`${worker.baseUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(find(parsePrometheusText(await metrics.text()), 'closeloop_worker_queue_metrics_up')?.value).toBe(
      0,
    );

    await redis.restart();
    await waitFor(async () => (await fetch(`${worker.baseUrl}/readyz`)).status === 200, {
      description: '/readyz to be 200 again once Redis is back',
    });

    // Right after the restart the worker's blocking connection may still wait for its next retry;
    // the drain must not wait for it (apps/worker/test/shutdown-after-outage.test.ts).
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.output()).toMatch(/"clean":true,"msg":"worker stopped"/);
  });
});
