import { describe, expect, it } from '@jest/globals';
import { waitFor } from '@closeloop/test-support';
import {
  eventFor,
  newTaskId,
  useCleanup,
  waitForWorkerStarted,
  workerEnv,
  type Harness,
  type HarnessOptions,
} from './harness.js';

// SIGKILL: a process a failed test leaves holding a call in a latency fault would drain it on
// SIGTERM for up to SHUTDOWN_TIMEOUT_MS (25 s by default, apps/worker/src/config.ts).
const { harness: openHarness, spawn: spawnWorker } = useCleanup({ processSignal: 'SIGKILL' });
/** No in-process worker: each test runs its own worker processes (or starts one with `startWorker`). */
const harness = (options: HarnessOptions = {}): Promise<Harness> =>
  openHarness({ ...options, startWorker: false });

describe('worker process', () => {
  it('When the worker process is killed mid-call, then a new worker process runs the job again and the task is completed', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const env = workerEnv(h.sandbox.url, h.prefix, { LOCK_DURATION_MS: '1000', STALLED_INTERVAL_MS: '500' });
    // Holds the first call in GHL long enough to kill the worker while it waits for the answer.
    await h.sandbox.control.injectFault({ latencyMs: 3_000, taskId, count: 1 });
    const first = spawnWorker(env);
    await waitForWorkerStarted(first);
    const job = await h.enqueue(eventFor(taskId));
    await waitFor(async () => (await h.sandbox.control.calls({ method: 'PUT' })).length === 1, {
      description: 'the first call to reach GHL',
    });

    first.child.kill('SIGKILL');
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const second = spawnWorker(env);
    await waitForWorkerStarted(second);

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
    expect(await h.sandbox.control.calls({ method: 'PUT' })).toHaveLength(2);
    expect(await h.deadLetterCount()).toBe(0);
  }, 40_000);

  it('When SIGTERM arrives while a job is in flight, then the job finishes and the process exits 0 within the bound', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ latencyMs: 1_500, taskId, count: 1 });
    const worker = spawnWorker(workerEnv(h.sandbox.url, h.prefix, { SHUTDOWN_TIMEOUT_MS: '10000' }));
    await waitForWorkerStarted(worker);
    const job = await h.enqueue(eventFor(taskId));
    await waitFor(async () => (await h.sandbox.control.calls({ method: 'PUT' })).length === 1, {
      description: 'the call to reach GHL',
    });

    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;

    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    const stored = await h.reload(job);
    expect(await stored.getState()).toBe('completed');
    expect(stored.returnvalue).toEqual({ taskId, completed: true, status: 200 });
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
    expect(worker.output()).toContain('"msg":"worker stopped"');
    expect(worker.output()).toContain('"clean":true');
  }, 30_000);

  it('When in-flight jobs outlast SHUTDOWN_TIMEOUT_MS, then the process still exits 0 and the job goes back to the queue without spending an attempt', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ latencyMs: 20_000, taskId, count: 1 });
    const worker = spawnWorker(
      workerEnv(h.sandbox.url, h.prefix, { SHUTDOWN_TIMEOUT_MS: '500', GHL_TIMEOUT_MS: '30000' }),
    );
    await waitForWorkerStarted(worker);
    const job = await h.enqueue(eventFor(taskId));
    await waitFor(async () => (await h.sandbox.control.calls({ method: 'PUT' })).length === 1, {
      description: 'the call to reach GHL',
    });

    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(5_000);

    const stored = await h.reload(job);
    expect(['delayed', 'waiting']).toContain(await stored.getState());
    expect(stored.attemptsMade).toBe(0);
    h.startWorker();
    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
    expect((await h.reload(job)).attemptsMade).toBe(1);
  }, 30_000);

  it('When the environment is invalid, then the process exits 1 listing every problem and no secret', async () => {
    const worker = spawnWorker({
      GHL_TOKEN: 'pit secret with spaces',
      WORKER_CONCURRENCY: 'lots',
      RATE_LIMIT_INTERVAL_MS: '50',
      REDIS_URL: 'postgres://nope',
    });

    expect(await worker.exited).toEqual({ code: 1, signal: null });
    const output = worker.output();
    expect(output).toContain('invalid configuration');
    for (const variable of [
      'GHL_TOKEN',
      'GHL_LOCATION_ID',
      'WORKER_CONCURRENCY',
      'RATE_LIMIT_INTERVAL_MS',
      'REDIS_URL',
    ]) {
      expect(output).toContain(`- ${variable}`);
    }
    expect(output).not.toContain('pit secret with spaces');
  }, 20_000);
});
