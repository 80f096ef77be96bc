/**
 * `docker compose stop` sends SIGTERM to the container's PID 1 and, after `stop_grace_period`, SIGKILL.
 * These tests run each service's command exactly as docker-compose.yml and the Dockerfile give it,
 * as PID 1 of its own PID namespace, signal it from outside as docker does, and check that the
 * process drains what it has in flight and exits 0 well inside the grace period. (With compose's
 * `init: true`, docker's init is PID 1 and forwards the signal to the command; running the command
 * itself as PID 1 is the stricter case: nothing forwards, nothing reaps.)
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { resolve } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import {
  TASK_UPDATES_QUEUE,
  createTaskUpdateProducer,
  enqueueTaskUpdate,
  type TaskUpdateProducer,
} from '@closeloop/queue';
import { findFreePort, testRedisUrl, uniquePrefix, waitFor } from '@closeloop/test-support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { readContainerCommand, type ContainerCommand } from './support/container-command.js';
import { startAsPid1, type NamespacedProcess } from './support/pid-namespace.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const LOCATION = 've9EPM428h8vShlRW1KT';
const CONTACT = 'sx6wyHhbFdRXh302LLNR';

/** The container's command on this machine: the image's WORKDIR is the repository root here. */
function startService(container: ContainerCommand, env: Record<string, string>): NamespacedProcess {
  const argv = container.argv.map((part) =>
    part.startsWith(`${container.workdir}/`) ? resolve(ROOT, part.slice(container.workdir.length + 1)) : part,
  );
  // Only what a container would get: compose's environment, not this test runner's (NODE_OPTIONS…).
  return startAsPid1(argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
}

/** Index of the first log line matching `pattern`, -1 when none does. */
function lineIndex(output: string, pattern: RegExp): number {
  return output.split('\n').findIndex((line) => pattern.test(line));
}

describe('containers drain on docker stop (the compose command as PID 1 of its own PID namespace)', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('When the receiver container gets SIGTERM with a request in flight, then the request is answered 202, the job is in Redis, and it exits 0 after "receiver closed"', async () => {
    const container = readContainerCommand(ROOT, 'receiver');
    const prefix = uniquePrefix('drain-receiver');
    const apiKey = `drain-key-${randomBytes(12).toString('hex')}`;
    const port = await findFreePort();
    const receiver = startService(container, {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(await findFreePort()),
      ADMIN_HOST: '127.0.0.1',
      INTERNAL_API_KEY: apiKey,
      LOG_LEVEL: 'info',
    });
    cleanups.push(() => receiver.kill());
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const tasks = new Queue(TASK_UPDATES_QUEUE, { connection: redis, prefix });
    cleanups.push(async () => {
      await tasks.obliterate({ force: true });
      await tasks.close();
      await redis.quit();
    });

    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, {
      timeoutMs: 30_000,
      description: `the receiver to be ready; its output so far:\n${receiver.output()}`,
    });
    const pid1 = await receiver.pid1();

    // `Expect: 100-continue`: the receiver's "100 Continue" proves it is handling the request
    // before the signal; the body follows only after the shutdown has begun.
    const body = JSON.stringify({
      type: 'ticket.closed',
      occurredAt: new Date().toISOString(),
      ghl: { locationId: LOCATION, contactId: CONTACT, taskId: 'drainTask000000000001' },
      idempotencyKey: `drain-${randomUUID()}`,
    });
    const inFlight = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/task-updates',
      agent: false,
      headers: {
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        expect: '100-continue',
      },
    });
    const answered = once(inFlight, 'response') as Promise<[IncomingMessage]>;
    const continued = once(inFlight, 'continue');
    inFlight.flushHeaders();
    await continued;

    const signalledAt = Date.now();
    process.kill(pid1, 'SIGTERM');
    await waitFor(() => lineIndex(receiver.output(), /shutting down/i) >= 0, {
      description: 'the receiver to log that it is shutting down',
    });
    inFlight.end(body);
    const [response] = await answered;
    const answer = JSON.parse(await text(response)) as { jobId: string; duplicate: boolean };

    expect(response.statusCode).toBe(202);
    expect(answer.duplicate).toBe(false);
    expect(await tasks.getJob(answer.jobId)).toBeDefined();
    expect(await receiver.exited).toEqual({ code: 0, signal: null });
    // Well inside the grace period docker gives it before SIGKILL.
    expect(Date.now() - signalledAt).toBeLessThan(container.stopGracePeriodMs);
    const output = receiver.output();
    expect(lineIndex(output, /receiver closed/i)).toBeGreaterThan(lineIndex(output, /shutting down/i));
  }, 60_000);

  it('When the worker container gets SIGTERM while a GHL call is in flight, then the job completes, the task is completed, and it exits 0 after "worker stopped"', async () => {
    const container = readContainerCommand(ROOT, 'worker');
    const prefix = uniquePrefix('drain-worker');
    const token = `pit-drain-${randomBytes(12).toString('hex')}`;
    const taskId = `drainTask${randomUUID().replace(/-/g, '').slice(0, 11)}`;
    const sandbox: RunningSandbox = await startSandbox();
    cleanups.push(() => sandbox.close());
    await sandbox.control.seed({
      locations: [{ id: LOCATION, tokens: [token] }],
      contacts: [{ id: CONTACT, locationId: LOCATION, email: 'jordan@example.com' }],
      tasks: [{ id: taskId, contactId: CONTACT, title: 'Call back', completed: false }],
    });
    // GHL takes 2 s to answer this call: the worker is mid-call when docker stops it.
    await sandbox.control.injectFault({ taskId, latencyMs: 2_000, count: 1 });

    const worker = startService(container, {
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: prefix,
      GHL_BASE_URL: sandbox.url,
      GHL_TOKEN: token,
      GHL_LOCATION_ID: LOCATION,
      METRICS_PORT: String(await findFreePort()),
      METRICS_HOST: '127.0.0.1',
      SHUTDOWN_TIMEOUT_MS: '20000',
      LOG_LEVEL: 'info',
    });
    cleanups.push(() => worker.kill());
    await waitFor(() => lineIndex(worker.output(), /worker started/i) >= 0, {
      timeoutMs: 30_000,
      description: `the worker to start; its output so far:\n${worker.output()}`,
    });
    const pid1 = await worker.pid1();

    const producer: TaskUpdateProducer = await createTaskUpdateProducer({ redisUrl: testRedisUrl(), prefix });
    cleanups.push(async () => {
      await producer.queue.obliterate({ force: true });
      await producer.close();
    });
    const { jobId } = await enqueueTaskUpdate(producer, {
      source: 'internal',
      idempotencyKey: `drain-${randomUUID()}`,
      event: {
        type: 'ticket.closed',
        occurredAt: new Date().toISOString(),
        ghl: { locationId: LOCATION, contactId: CONTACT, taskId },
      },
    });
    // The sandbox records a call when it arrives, before the injected latency.
    await waitFor(async () => (await sandbox.control.calls({ path: taskId })).length === 1, {
      timeoutMs: 20_000,
      description: 'the GHL call to be in flight',
    });
    expect((await sandbox.control.getTask(taskId))?.completed).toBe(false);

    const signalledAt = Date.now();
    process.kill(pid1, 'SIGTERM');
    const exit = await worker.exited;

    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(container.stopGracePeriodMs);
    expect((await sandbox.control.getTask(taskId))?.completed).toBe(true);
    expect(await producer.queue.getJobState(jobId)).toBe('completed');
    const output = worker.output();
    const stopped = lineIndex(output, /worker stopped/i);
    expect(stopped).toBeGreaterThan(lineIndex(output, /shutting down/i));
    expect(lineIndex(output, /shutting down/i)).toBeGreaterThan(lineIndex(output, /worker started/i));
    // Drained, not cut at SHUTDOWN_TIMEOUT_MS.
    expect(output.split('\n')[stopped]).toContain('"clean":true');
  }, 60_000);

  it('When compose stops a service, then its grace period leaves margin over what the process may take to drain', () => {
    // The worker: SHUTDOWN_TIMEOUT_MS (25 s by default) for jobs in flight, then up to 10 s for the
    // rest of its close (apps/worker/src/main.ts CLOSE_MARGIN_MS). The receiver: 10 s for requests in
    // flight, then up to 5 s to close (apps/receiver/src/main.ts).
    const worker = readContainerCommand(ROOT, 'worker');
    const receiver = readContainerCommand(ROOT, 'receiver');
    expect(worker.stopGracePeriodMs).toBeGreaterThanOrEqual(25_000 + 10_000 + 5_000);
    expect(receiver.stopGracePeriodMs).toBeGreaterThanOrEqual(10_000 + 5_000 + 5_000);
    for (const service of ['receiver', 'worker', 'sandbox']) {
      const command = readContainerCommand(ROOT, service);
      expect({ service, init: command.init }).toEqual({ service, init: true });
    }
  });
});
