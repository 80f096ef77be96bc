import { GhlError, type GhlClient } from '@closeloop/ghl';
import {
  DEAD_LETTER_QUEUE,
  DeadLetter,
  TASK_UPDATES_QUEUE,
  TaskUpdateJob,
  completedFor,
  writeDeadLetter,
  type DeadLetterReason,
} from '@closeloop/queue';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { WorkerConfig } from './config.js';
import {
  MAX_STALLS,
  decide,
  retryDelayMs,
  type Decision,
  type Outcome,
  type PolicyContext,
} from './failure-policy.js';
import type { Logger } from './logger.js';
import { createRateBudget, type RateBudget } from './rate-budget.js';
import { createTaskOrderGuard, type TaskOrderGuard } from './task-order-guard.js';

/** What a completed job records (its BullMQ return value). */
export type TaskUpdateResult =
  /** The task as GHL returned it after the PUT. */
  | { taskId: string; completed: boolean; status: number }
  /** A newer event for the task was already applied (ordering guard); GHL was not called. */
  | { skipped: 'STALE_EVENT'; taskId: string; lastAppliedAt: string };

export interface TaskWorkerDeps {
  config: WorkerConfig;
  ghl: GhlClient;
  logger: Logger;
  /** A worker-role connection (`maxRetriesPerRequest: null`); owned by the caller, not closed here. */
  connection: Redis;
  /** Tests pass a fixed source to make jitter predictable. */
  random?: () => number;
  /** Default true; tests that drive jobs by hand pass false. */
  autorun?: boolean;
}

export interface TaskWorker {
  readonly worker: Worker<unknown, TaskUpdateResult>;
  readonly deadLetters: Queue<DeadLetter>;
  /**
   * Stops taking jobs and waits up to `timeoutMs` for the ones in flight. Past that, the GHL calls
   * still running are cut off (the client's sockets are destroyed) and their jobs go back to the queue
   * without spending an attempt; if even that does not settle within a few seconds, the jobs are left
   * to BullMQ's stalled check (another worker runs them again once their lock expires).
   * Resolves true when every in-flight job finished normally.
   */
  close(timeoutMs: number): Promise<boolean>;
}

/**
 * Thrown after the dead letter is written, so the job lands in the failed set. An UnrecoverableError
 * (BullMQ moves it to failed whatever attempts are left, job.js `shouldRetryJob`), carrying the
 * decision for the `failed` log line.
 */
export class DeadLetteredError extends UnrecoverableError {
  constructor(
    readonly reason: DeadLetterReason,
    readonly severity: 'warn' | 'error',
    readonly httpStatus: number | undefined,
    lastError: string,
  ) {
    super(`${reason}: ${lastError}`);
  }
}

/** How long the failed set keeps a job (packages/queue TASK_UPDATE_JOB_OPTIONS.removeOnFail): 30 days. */
const BOOKKEEPING_TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * BullMQ fails a job on its own once it stalled more than `maxStalledCount` times, without running the
 * processor — and so without a dead letter. The processor dead-letters at MAX_STALLS + 1 (policy), so
 * BullMQ's own limit sits above it and is never the one that acts.
 */
const BULLMQ_MAX_STALLED_COUNT = MAX_STALLS + 5;

export interface ProcessorDeps {
  config: WorkerConfig;
  ghl: GhlClient;
  redis: Redis;
  deadLetters: Queue<DeadLetter>;
  guard: TaskOrderGuard;
  budget: RateBudget;
  logger: Logger;
  random: () => number;
  /** True once shutdown gave up waiting: failures are then interruptions, not attempts. */
  isInterrupted: () => boolean;
}

export type TaskProcessor = (
  job: Job<unknown, TaskUpdateResult>,
  token?: string,
) => Promise<TaskUpdateResult>;

export function createTaskWorker(deps: TaskWorkerDeps): TaskWorker {
  const { config, logger, connection } = deps;
  const random = deps.random ?? Math.random;
  const prefix = config.queuePrefix;

  const deadLetters = new Queue<DeadLetter>(DEAD_LETTER_QUEUE, { connection, prefix });
  deadLetters.on('error', (error) => logger.error({ err: error }, 'dead-letter queue error'));

  // Lock for the per-task ordering guard: long enough for the rate-budget check and one GHL call.
  const guard = createTaskOrderGuard(connection, prefix, config.ghl.timeoutMs + 5_000);
  const budget = createRateBudget(connection, prefix, config.rateLimit);
  let interrupted = false;

  const processor = createTaskProcessor({
    config,
    ghl: deps.ghl,
    redis: connection,
    deadLetters,
    guard,
    budget,
    logger,
    random,
    isInterrupted: () => interrupted,
  });

  const worker = new Worker<unknown, TaskUpdateResult>(TASK_UPDATES_QUEUE, processor, {
    connection,
    prefix,
    concurrency: config.concurrency,
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: BULLMQ_MAX_STALLED_COUNT,
    // Jobs carry `backoff: {type: RETRY_BACKOFF_TYPE}`, which BullMQ does not know, so it asks this
    // strategy (bullmq backoffs.js `lookupStrategy`) with the attempts made, the failed one included.
    settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade, config.retry, random) },
    autorun: deps.autorun ?? true,
  });

  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  worker.on('stalled', (jobId) =>
    logger.warn({ jobId }, 'job stalled (its worker stopped or lost the lock); it runs again'),
  );
  worker.on('failed', (job, error) => {
    const fields = {
      jobId: job?.id,
      locationId: locationOf(job?.data, config.ghl.defaultLocationId),
      attemptsMade: job?.attemptsMade,
    };
    if (error instanceof DeadLetteredError) {
      logger[error.severity](
        { ...fields, reason: error.reason, status: error.httpStatus, error: error.message },
        `job dead-lettered: ${error.reason}`,
      );
    } else if (error instanceof UnrecoverableError) {
      // BullMQ's own verdicts (e.g. "job stalled more than allowable limit"): no dead letter exists.
      logger.error({ ...fields, error: error.message }, 'job failed by BullMQ without a dead letter');
    } else {
      logger.warn(
        {
          ...fields,
          code: error instanceof GhlError ? error.code : error.name,
          status: error instanceof GhlError ? error.status : undefined,
          error: error.message,
        },
        'attempt failed; retrying with backoff',
      );
    }
  });

  const close = async (timeoutMs: number): Promise<boolean> => {
    const closing = worker.close();
    let finishedInTime = await settlesWithin(closing, timeoutMs);
    if (!finishedInTime) {
      // `worker.close(true)` would not help here: in BullMQ 6.7.0 a second close() returns the first
      // one's promise (worker.js `close`), which still waits for the jobs. So the calls are cut off.
      logger.warn({ timeoutMs }, 'shutdown: jobs still in flight after the timeout; interrupting them');
      interrupted = true;
      await deps.ghl.close();
      finishedInTime = await settlesWithin(closing, 5_000);
      if (!finishedInTime) {
        logger.error('shutdown: jobs did not settle; BullMQ will run them again after their lock expires');
      }
    }
    await deadLetters.close();
    return finishedInTime && !interrupted;
  };

  return { worker, deadLetters, close };
}

/** The per-job logic; exported so tests can run it on a job fetched by hand (a crash in between). */
export function createTaskProcessor(deps: ProcessorDeps): TaskProcessor {
  const { config, ghl, redis, deadLetters, guard, budget, logger, random } = deps;
  const firstAttemptKey = (jobId: string): string =>
    `${config.queuePrefix}:${TASK_UPDATES_QUEUE}:first-attempt:${jobId}`;

  const contextFor = (job: Job<unknown, TaskUpdateResult>): PolicyContext => ({
    attemptsMade: job.attemptsMade,
    jobAttempts: job.opts.attempts,
    retry: config.retry,
    now: Date.now(),
    random,
  });

  /** After a completed job that may have run before: no dead letter or bookkeeping may outlive it. */
  const cleanUpAfterSuccess = async (job: Job<unknown, TaskUpdateResult>, jobId: string): Promise<void> => {
    // A dead letter for a job that then succeeds can only exist when the job ran before (it was
    // written, then the worker died before failing the job); checking attemptsStarted keeps the
    // common path at zero extra round trips.
    if (job.attemptsStarted > 1) await deadLetters.remove(jobId);
    if (job.attemptsMade > 0) await redis.del(firstAttemptKey(jobId));
  };

  /** Carries out a decision other than `done`: always throws, as BullMQ expects. */
  const carryOut = async (
    job: Job<unknown, TaskUpdateResult>,
    jobId: string,
    token: string | undefined,
    log: Logger,
    decision: Exclude<Decision, { kind: 'done' }>,
    failure: { error?: unknown; message?: string; locationId?: string | undefined },
  ): Promise<never> => {
    switch (decision.kind) {
      case 'delay': {
        const waitMs = Math.max(0, decision.untilMs - Date.now());
        if (
          (decision.reason === 'GHL_RATE_LIMITED' || decision.reason === 'GHL_DAILY_LIMIT') &&
          failure.locationId !== undefined
        ) {
          await budget.holdBack(failure.locationId, waitMs);
        }
        const level =
          decision.reason === 'GHL_RATE_LIMITED' || decision.reason === 'GHL_DAILY_LIMIT' ? 'warn' : 'debug';
        log[level]({ reason: decision.reason, delayMs: waitMs }, 'job delayed (no attempt spent)');
        await job.moveToDelayed(decision.untilMs, token);
        throw new DelayedError();
      }
      case 'retry': {
        if (job.attemptsMade === 0) {
          await redis.set(
            firstAttemptKey(jobId),
            String(job.processedOn ?? Date.now()),
            'EX',
            BOOKKEEPING_TTL_SECONDS,
            'NX',
          );
        }
        throw failure.error instanceof Error ? failure.error : new Error(describeError(failure.error));
      }
      case 'dead-letter': {
        const lastError = failure.message ?? describeError(failure.error);
        await writeDeadLetter(
          { deadLetters, redis, prefix: config.queuePrefix },
          {
            jobId,
            job: job.data,
            reason: decision.reason,
            http: decision.http,
            attempts: job.attemptsMade + 1,
            attemptStartedAt: job.processedOn ?? Date.now(),
            retriedBefore: job.attemptsMade > 0,
            lastError,
          },
        );
        throw new DeadLetteredError(decision.reason, decision.severity, decision.http?.status, lastError);
      }
    }
  };

  return async (job, token) => {
    const jobId = job.id;
    if (jobId === undefined) throw new Error('BullMQ handed over a job without an id');
    const settle = (
      log: Logger,
      outcome: Exclude<Outcome, { kind: 'success' }>,
      failure: { error?: unknown; message?: string; locationId?: string | undefined },
    ): Promise<never> => {
      const effective: Outcome =
        outcome.kind === 'failed' && deps.isInterrupted() ? { kind: 'interrupted' } : outcome;
      const decision = decide(effective, contextFor(job));
      if (decision.kind === 'done') throw new Error(`the policy answered done to ${outcome.kind}`);
      return carryOut(job, jobId, token, log, decision, failure);
    };

    const parsed = TaskUpdateJob.safeParse(job.data);
    if (!parsed.success) {
      // zod's paths and messages only: the values may be personal data.
      const message = parsed.error.issues
        .slice(0, 10)
        .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      return settle(
        logger.child({ jobId }),
        { kind: 'invalid-job', message },
        {
          message: `invalid job data: ${message}`,
        },
      );
    }
    const data = parsed.data;
    const { contactId, taskId } = data.event.ghl;
    const locationId = data.event.ghl.locationId ?? config.ghl.defaultLocationId;
    const log = logger.child({ jobId, locationId });
    log.debug({ type: data.event.type, ticket: data.event.ticket, contactId, taskId }, 'job started');

    if (job.stalledCounter > MAX_STALLS) {
      return settle(
        log,
        { kind: 'stalled-repeatedly', stalls: job.stalledCounter },
        { message: `the job stalled ${job.stalledCounter} times (limit ${MAX_STALLS})`, locationId },
      );
    }
    if (locationId === undefined) {
      const message = 'the job names no location and several locations are configured (no GHL_LOCATION_ID)';
      return settle(log, { kind: 'no-location', message }, { message });
    }

    const occurredAtMs = Date.parse(data.event.occurredAt);
    let holdsLock = false;
    let outcome: Exclude<Outcome, { kind: 'success' }>;
    let failure: { error?: unknown; locationId: string } = { locationId };
    try {
      const begin = await guard.begin(taskId, occurredAtMs, jobId);
      if (begin.kind === 'stale') {
        const lastAppliedAt = new Date(begin.lastAppliedMs).toISOString();
        log.info({ taskId, occurredAt: data.event.occurredAt, lastAppliedAt }, 'stale event skipped');
        await cleanUpAfterSuccess(job, jobId);
        return { skipped: 'STALE_EVENT', taskId, lastAppliedAt };
      }
      if (begin.kind === 'busy') {
        outcome = { kind: 'task-busy', msBeforeNext: begin.msBeforeNext };
      } else {
        holdsLock = true;
        const take = await budget.take(locationId);
        if (!take.ok) {
          outcome = { kind: 'rate-budget-spent', msBeforeNext: take.msBeforeNext };
        } else {
          const completed = completedFor(data.event.type);
          const response = await ghl.completeTask({ locationId, contactId, taskId, completed });
          await guard.commit(taskId, occurredAtMs, jobId);
          holdsLock = false;
          await cleanUpAfterSuccess(job, jobId);
          const result = { taskId, completed: response.data.completed, status: response.status };
          log.info(result, 'task updated');
          return result;
        }
      }
    } catch (error) {
      outcome = { kind: 'failed', error };
      failure = { error, locationId };
    } finally {
      if (holdsLock) await guard.release(taskId, jobId);
    }
    return settle(log, outcome, failure);
  };
}

/** Settles true when `promise` does within `ms`; never rejects (a failed close is logged by BullMQ's error event). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function locationOf(data: unknown, fallback: string | undefined): string | undefined {
  const parsed = TaskUpdateJob.safeParse(data);
  return parsed.success ? (parsed.data.event.ghl.locationId ?? fallback) : undefined;
}
