import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedisConnection } from './connection.js';
import { DeadLetter, type DeadLetterReason } from './dead-letter.js';
import { TASK_UPDATE_JOB_OPTIONS } from './job-options.js';
import {
  DEAD_LETTER_QUEUE,
  DEFAULT_QUEUE_PREFIX,
  TASK_UPDATE_JOB_NAME,
  TASK_UPDATES_QUEUE,
} from './names.js';

/**
 * Operating on dead letters (DESIGN §2.4): list them, and send them back to `task-updates`.
 * Nothing consumes `task-updates-dead`, so its jobs stay in its wait list until replayed or removed.
 */
export interface DeadLetterQueues {
  readonly deadLetters: Queue;
  readonly taskUpdates: Queue;
}

export interface DeadLetterAdmin extends DeadLetterQueues {
  readonly redis: Redis;
  close(): Promise<void>;
}

/** Opens both queues on one connection that gives up quickly when Redis is unreachable (for CLIs). */
export async function openDeadLetterAdmin(options: {
  redisUrl: string;
  prefix?: string;
}): Promise<DeadLetterAdmin> {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const redis = createRedisConnection(options.redisUrl, 'worker', {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => (times > 3 ? null : 200 * times),
  });
  redis.on('error', () => undefined);
  const deadLetters = new Queue(DEAD_LETTER_QUEUE, { connection: redis, prefix });
  const taskUpdates = new Queue(TASK_UPDATES_QUEUE, { connection: redis, prefix });
  deadLetters.on('error', () => undefined);
  taskUpdates.on('error', () => undefined);
  const close = async (): Promise<void> => {
    await deadLetters.close();
    await taskUpdates.close();
    redis.disconnect();
  };
  try {
    await Promise.all([deadLetters.waitUntilReady(), taskUpdates.waitUntilReady()]);
  } catch (error) {
    await close();
    throw error;
  }
  return { redis, deadLetters, taskUpdates, close };
}

export interface DeadLetterEntry {
  /** The dead letter's id, which is the original job's id. */
  id: string;
  letter: DeadLetter;
}

/** Every dead letter, oldest first, optionally only those with one reason. */
export async function listDeadLetters(
  queues: Pick<DeadLetterQueues, 'deadLetters'>,
  filter: { reason?: DeadLetterReason } = {},
): Promise<DeadLetterEntry[]> {
  const entries: DeadLetterEntry[] = [];
  const pageSize = 500;
  for (let start = 0; ; start += pageSize) {
    const jobs = (await queues.deadLetters.getJobs(['wait'], start, start + pageSize - 1, true)) as Array<
      Job | undefined
    >;
    for (const job of jobs) {
      if (!job?.id) continue;
      const parsed = DeadLetter.safeParse(job.data);
      // A dead letter that does not match the schema was not written by the worker: leave it alone.
      if (!parsed.success) continue;
      if (filter.reason !== undefined && parsed.data.reason !== filter.reason) continue;
      entries.push({ id: job.id, letter: parsed.data });
    }
    if (jobs.length < pageSize) return entries;
  }
}

export type DeadLetterSelection = { ids: readonly string[] } | { reason: DeadLetterReason } | { all: true };

export type ReplayOutcome =
  /** The original job was still in the failed set: retried with its attempts reset. */
  | 'retried'
  /** The original job was gone (removeOnFail, or removed by hand): added again under the same id. */
  | 're-added'
  /** The original job was already waiting, delayed, active or completed: only the dead letter was removed. */
  | 'already-queued'
  | 'not-found';

export interface ReplayReport {
  id: string;
  outcome: ReplayOutcome;
}

/**
 * Sends dead letters back to `task-updates`, one by one, and removes them.
 *
 * The dead letter is removed before the job is sent back: should the job fail again at once, the
 * worker's new dead letter (same id) must not be swallowed by the old one still being there. If
 * sending back then fails, the dead letter is written again and the error is thrown.
 */
export async function replayDeadLetters(
  queues: DeadLetterQueues,
  selection: DeadLetterSelection,
): Promise<ReplayReport[]> {
  const ids =
    'ids' in selection
      ? [...selection.ids]
      : (await listDeadLetters(queues, 'reason' in selection ? { reason: selection.reason } : {})).map(
          (entry) => entry.id,
        );
  const reports: ReplayReport[] = [];
  for (const id of ids) reports.push({ id, outcome: await replayOne(queues, id) });
  return reports;
}

async function replayOne(queues: DeadLetterQueues, id: string): Promise<ReplayOutcome> {
  const deadLetter = await queues.deadLetters.getJob(id);
  if (!deadLetter) return 'not-found';
  const letter: unknown = deadLetter.data;
  const original = await queues.taskUpdates.getJob(id);
  const state = original ? await original.getState() : undefined;

  await queues.deadLetters.remove(id);
  try {
    if (original && state === 'failed') {
      // Reset both counters: the worker's policy counts attempts from attemptsMade, and an exhausted
      // job retried without the reset would fail again at once (bullmq-notes §3).
      await original.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      return 'retried';
    }
    if (original && state !== 'unknown') return 'already-queued';
    // Re-added as it was, even when invalid (INVALID_JOB): the worker decides again, perhaps a newer one.
    const data = (letter as { job?: unknown } | null)?.job;
    await queues.taskUpdates.add(TASK_UPDATE_JOB_NAME, data, { ...TASK_UPDATE_JOB_OPTIONS, jobId: id });
    return 're-added';
  } catch (error) {
    await queues.deadLetters.add(deadLetter.name, letter, { jobId: id });
    throw error;
  }
}
