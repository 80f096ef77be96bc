import { describe, expect, it } from '@jest/globals';
import { DEAD_LETTER_QUEUE, TASK_UPDATES_QUEUE, replayDeadLetters, type DeadLetter } from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import { Queue, Worker } from 'bullmq';
import { createRateBudget } from '../src/rate-budget.js';
import { createTaskMatcher } from '../src/task-matcher.js';
import { createTaskOrderGuard } from '../src/task-order-guard.js';
import {
  DeadLetteredError,
  createDecisionExecutor,
  type TaskUpdateResult,
} from '../src/decision-executor.js';
import { createTaskProcessor } from '../src/task-processor.js';
import { NO_OBSERVER } from '../src/task-worker-observer.js';
import { eventFor, newTaskId, useCleanup, type Harness } from './harness.js';

const { harness } = useCleanup();

const UNPROCESSABLE = {
  status: 422,
  body: { statusCode: 422, message: ['title should not be empty'], error: 'Unprocessable Entity' },
};

/**
 * The first run of a job in a worker that dies right after writing the dead letter: the job is
 * taken by hand (so no lock renewal), the processor runs, and the job is never moved to failed.
 */
async function runAndCrashAfterDeadLetter(h: Harness): Promise<void> {
  const connection = h.connection();
  const crashing = new Worker<unknown, TaskUpdateResult>(TASK_UPDATES_QUEUE, null, {
    connection,
    prefix: h.prefix,
    lockDuration: 1_000,
  });
  const deadLetters = new Queue<DeadLetter>(DEAD_LETTER_QUEUE, { connection, prefix: h.prefix });
  try {
    const token = 'worker-that-crashes';
    const job = await crashing.getNextJob(token);
    const store = { deadLetters, redis: connection, prefix: h.prefix };
    const budget = createRateBudget(connection, h.prefix, h.config.rateLimit);
    const processor = createTaskProcessor({
      config: h.config,
      ghl: h.ghlClient(),
      store,
      guard: createTaskOrderGuard(connection, h.prefix, 5_000),
      budget,
      matcher: createTaskMatcher({ ghl: h.ghlClient(), budget, redis: connection, prefix: h.prefix }),
      executor: createDecisionExecutor({ store, budget, logger: h.logger, observer: NO_OBSERVER }),
      logger: h.logger,
      random: Math.random,
    });
    await expect(processor(job, token)).rejects.toBeInstanceOf(DeadLetteredError);
    expect(await job.getState()).toBe('active');
  } finally {
    await crashing.close();
    await deadLetters.close();
  }
}

describe('dead letters: exactly one per failed job', () => {
  it('When the worker dies between writing the dead letter and failing the job, then the re-run leaves exactly one dead letter, its own', async () => {
    const taskId = newTaskId();
    const h = await harness({ startWorker: false, tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ ...UNPROCESSABLE, taskId, count: 2 });
    const job = await h.enqueue(eventFor(taskId));

    await runAndCrashAfterDeadLetter(h);
    const first = await h.deadLetter(job.id ?? '');
    expect(first?.data.reason).toBe('GHL_UNPROCESSABLE');

    // A new worker's stalled check finds the job without a lock and runs it again.
    h.startWorker();
    expect(await h.failed(job)).toMatch(/^GHL_UNPROCESSABLE: /);

    expect(await h.deadLetterCount()).toBe(1);
    // The re-run's letter replaced the first one: one letter, the newest.
    const second = (await h.deadLetter(job.id ?? ''))?.data;
    expect(second).toMatchObject({ reason: 'GHL_UNPROCESSABLE', job: first?.data.job });
    expect(Date.parse(second?.deadAt ?? '')).toBeGreaterThanOrEqual(Date.parse(first?.data.deadAt ?? ''));
    expect(await (await h.reload(job)).getState()).toBe('failed');
    expect(await h.sandbox.control.calls({ method: 'PUT' })).toHaveLength(2);
    expect(h.logs.some((l) => l.msg.startsWith('job stalled'))).toBe(true);
  });

  it('When the re-run after such a crash succeeds, then the dead letter is removed and the job completes', async () => {
    const taskId = newTaskId();
    const h = await harness({ startWorker: false, tasks: [{ id: taskId }] });
    await h.sandbox.control.injectFault({ ...UNPROCESSABLE, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));

    await runAndCrashAfterDeadLetter(h);
    expect(await h.deadLetterCount()).toBe(1);

    h.startWorker();
    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });

    expect(await h.deadLetterCount()).toBe(0);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
  });

  it('When a job has stalled more often than allowed, then it is dead-lettered STALLED_REPEATEDLY without calling GHL', async () => {
    const taskId = newTaskId();
    const h = await harness({ startWorker: false, tasks: [{ id: taskId }] });
    const job = await h.enqueue(eventFor(taskId));
    // What four crashes mid-job leave behind: BullMQ's stall counter on the job hash.
    await h.producer.redis.hset(`${h.prefix}:${TASK_UPDATES_QUEUE}:${job.id}`, 'stc', '4');

    h.startWorker();
    expect(await h.failed(job)).toMatch(/^STALLED_REPEATEDLY: /);

    expect(await h.sandbox.control.calls()).toHaveLength(0);
    expect((await h.deadLetter(job.id ?? ''))?.data.reason).toBe('STALLED_REPEATEDLY');
  });
});

describe('dead letters: replay', () => {
  async function deadLettered(h: Harness, taskId: string) {
    await h.sandbox.control.injectFault({ ...UNPROCESSABLE, taskId, count: 1 });
    const job = await h.enqueue(eventFor(taskId));
    await h.failed(job);
    return job;
  }

  it('When a dead letter is replayed after the cause is fixed, then the failed job runs again with fresh attempts and the task is completed', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const job = await deadLettered(h, taskId);
    expect(await h.deadLetterCount()).toBe(1);

    const reports = await replayDeadLetters(h.deadLetterQueues, { ids: [job.id ?? ''] });

    expect(reports).toEqual([{ id: job.id, outcome: 'retried' }]);
    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
    expect((await h.reload(job)).attemptsMade).toBe(1);
    expect(await h.deadLetterCount()).toBe(0);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
  });

  it('When the failed job is already gone, then replay adds its data again under the same id', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const job = await deadLettered(h, taskId);
    await h.queue.remove(job.id ?? '');

    const reports = await replayDeadLetters(h.deadLetterQueues, { filter: { reason: 'GHL_UNPROCESSABLE' } });

    expect(reports).toEqual([{ id: job.id, outcome: 're-added' }]);
    const again = await h.reload(job);
    expect(again.data).toEqual(job.data);
    expect(await h.finished(again)).toEqual({ taskId, completed: true, status: 200 });
    expect(await h.deadLetterCount()).toBe(0);
  });

  it('When a job that really stalled past the limit is dead-lettered STALLED_REPEATEDLY and replayed, then it reaches GHL and completes', async () => {
    const taskId = newTaskId();
    const h = await harness({ startWorker: false, tasks: [{ id: taskId }] });
    const job = await h.enqueue(eventFor(taskId));
    await stallRepeatedly(h, job.id ?? '', 4);
    h.startWorker();
    expect(await h.failed(job)).toMatch(/^STALLED_REPEATEDLY: /);
    expect(await h.sandbox.control.calls()).toHaveLength(0);

    expect(await replayDeadLetters(h.deadLetterQueues, { ids: [job.id ?? ''] })).toEqual([
      { id: job.id, outcome: 'retried' },
    ]);

    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
    expect((await h.sandbox.control.calls({ method: 'PUT' })).map((c) => c.status)).toEqual([200]);
    expect((await h.sandbox.control.getTask(taskId))?.completed).toBe(true);
    expect(await h.deadLetterCount()).toBe(0);
  });

  it('When a replayed job fails again, then it gets a new dead letter', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const job = await deadLettered(h, taskId);
    await h.sandbox.control.injectFault({ status: 404, taskId, count: 1 });

    await replayDeadLetters(h.deadLetterQueues, { filter: {} });

    await waitForDeadLetter(h, job.id ?? '', 'GHL_NOT_FOUND');
    expect(await h.deadLetterCount()).toBe(1);
  });
});

async function waitForDeadLetter(h: Harness, id: string, reason: string): Promise<void> {
  await waitFor(async () => (await h.deadLetter(id))?.data.reason === reason, {
    description: `a new dead letter ${reason} for ${id}`,
  });
}

/**
 * What a worker that crashes mid-job `times` times leaves behind: each time the job is taken (by
 * hand, so its lock is never renewed), abandoned, and found by BullMQ's stalled checker once the
 * lock has expired, which moves it back to wait and counts the stall (`stc`).
 */
async function stallRepeatedly(h: Harness, jobId: string, times: number): Promise<void> {
  const crashing = new Worker(TASK_UPDATES_QUEUE, null, {
    connection: h.connection(),
    prefix: h.prefix,
    lockDuration: 300,
    stalledInterval: 200,
    maxStalledCount: times + 5,
  });
  try {
    await crashing.startStalledCheckTimer();
    for (let stall = 1; stall <= times; stall += 1) {
      const taken = await crashing.getNextJob(`crash-${stall}`);
      expect(taken?.id).toBe(jobId);
      await waitFor(async () => (await h.queue.getJob(jobId))?.stalledCounter === stall, {
        description: `stall ${stall} of job ${jobId} to be counted`,
      });
      await waitFor(async () => (await (await h.reload(taken as never)).getState()) === 'waiting', {
        description: `job ${jobId} back in wait after stall ${stall}`,
      });
    }
  } finally {
    await crashing.close();
  }
}
