import { setMaxListeners } from 'node:events';
import type { GhlClient } from '@closeloop/ghl';
import { DEAD_LETTER_QUEUE, TASK_UPDATES_QUEUE, type DeadLetter } from '@closeloop/queue';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { WorkerConfig } from './config.js';
import { DeadLetteredError, createDecisionExecutor, type TaskUpdateResult } from './decision-executor.js';
import { MAX_STALLS, retryDelayMs } from './failure-policy.js';
import type { Logger } from './logger.js';
import { createRateBudget } from './rate-budget.js';
import { createTaskMatcher } from './task-matcher.js';
import { createTaskOrderGuard } from './task-order-guard.js';
import { createTaskProcessor } from './task-processor.js';
import { NO_OBSERVER, type TaskWorkerObserver } from './task-worker-observer.js';

export { DeadLetteredError, type TaskUpdateResult } from './decision-executor.js';
export { createTaskProcessor, type ProcessorDeps, type TaskProcessor } from './task-processor.js';

export interface TaskWorkerDeps {
  config: WorkerConfig;
  /** Created and closed by the caller; the task worker only cancels its own calls. */
  ghl: GhlClient;
  logger: Logger;
  /** A worker-role connection (`maxRetriesPerRequest: null`); owned by the caller, not closed here. */
  connection: Redis | Cluster;
  /** Told about every job outcome (metrics); default: nobody. */
  observer?: TaskWorkerObserver;
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
   * still running are cancelled (their signal aborts; the client itself stays open for its owner to
   * close) and their jobs go back to the queue without spending an attempt; if even that does not
   * settle within a few seconds, the jobs are left to BullMQ's stalled check (another worker runs
   * them again once their lock expires). While Redis is away (the blocking connection has no
   * socket), it returns at once when no job is in flight, and otherwise waits up to `timeoutMs`
   * for Redis before cutting the calls off. Closes the queues it opened, never the connection or
   * the client. Resolves true when every in-flight job finished normally (or none was in flight).
   */
  close(timeoutMs: number): Promise<boolean>;
}

/**
 * BullMQ fails a job on its own once it stalled more than `maxStalledCount` times, without running the
 * processor — and so without a dead letter. The processor dead-letters at MAX_STALLS + 1 (policy), so
 * BullMQ's own limit sits above it and is never the one that acts.
 */
const BULLMQ_MAX_STALLED_COUNT = MAX_STALLS + 5;

/** After cancelling the calls in flight, how long their jobs get to go back to the queue. */
const SETTLE_AFTER_CANCEL_MS = 5_000;

/**
 * The worker of `task-updates`. The queues it uses are opened here, in one place, on the caller's
 * connection: the Worker itself and the dead-letter queue it writes to.
 */
export function createTaskWorker(deps: TaskWorkerDeps): TaskWorker {
  const { config, logger, connection } = deps;
  const random = deps.random ?? Math.random;
  const prefix = config.queuePrefix;

  const deadLetters = new Queue<DeadLetter>(DEAD_LETTER_QUEUE, { connection, prefix });
  deadLetters.on('error', (error) => logger.error({ err: error }, 'dead-letter queue error'));
  const store = { deadLetters, redis: connection, prefix };
  // Lock for the per-task ordering guard: long enough for the rate-budget check and one GHL call.
  const guard = createTaskOrderGuard(connection, prefix, config.ghl.timeoutMs + 5_000);
  const budget = createRateBudget(connection, prefix, {
    ...config.rateLimit,
    locationConcurrency: config.locationConcurrency,
    // A place outlives its call only when the worker died mid-call: one call's timeout and a margin.
    inflightTtlMs: config.ghl.timeoutMs + 5_000,
  });
  const matcher = createTaskMatcher({ ghl: deps.ghl, budget, redis: connection, prefix, logger });
  const calls = new AbortController();
  // Every job in flight listens on this one signal (its GHL call, a short wait for its slot): as many
  // listeners as the concurrency, which is no leak, so Node's warning after 10 is turned off.
  setMaxListeners(0, calls.signal);

  const executor = createDecisionExecutor({ store, budget, logger, observer: deps.observer ?? NO_OBSERVER });
  const processor = createTaskProcessor({
    config,
    ghl: deps.ghl,
    store,
    guard,
    budget,
    matcher,
    executor,
    logger,
    random,
    signal: calls.signal,
    wakeWaiter: (jobId, stillWaiting) => wakeWaiter(worker, jobId, stillWaiting),
  });

  // Counted so a shutdown during a Redis outage knows whether anything is left to drain.
  let jobsInFlight = 0;
  const countedProcessor: typeof processor = async (job, token) => {
    jobsInFlight += 1;
    try {
      return await processor(job, token);
    } finally {
      jobsInFlight -= 1;
    }
  };

  const worker = new Worker<unknown, TaskUpdateResult>(TASK_UPDATES_QUEUE, countedProcessor, {
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
    // The executor logs every outcome it decides. Left to report here: BullMQ's own verdicts (e.g.
    // "job stalled more than allowable limit", no dead letter exists for them), and errors raised
    // while carrying a decision out (Redis failing mid-job), which BullMQ retries with backoff.
    if (error instanceof DeadLetteredError || executor.reported(error)) return;
    const fields = { jobId: job?.id, attempts: job?.attemptsMade, error: error.message };
    if (error instanceof UnrecoverableError) {
      logger.error({ ...fields, outcome: 'failed' }, 'job failed by BullMQ without a dead letter');
    } else {
      logger.warn(
        { ...fields, outcome: 'retrying', code: error.name },
        'attempt failed; retrying with backoff',
      );
    }
  });

  const close = async (timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    // BullMQ 6.7.0's graceful close interrupts the blocking fetch (BZPOPMIN) by disconnecting the
    // blocking connection and waiting for its 'end' event (worker.js `whenCurrentJobsFinished`,
    // redis-connection.js `disconnect`). A connection that lost Redis and waits to reconnect
    // (ioredis status 'reconnecting', no socket) never emits 'end': ioredis' `disconnect()` only
    // cancels its retry timer, so the close, and the shutdown, waited forever. Open upstream:
    // https://github.com/taskforcesh/bullmq/issues/4656 (same await, via pause: #4065; fix
    // proposed in https://github.com/taskforcesh/bullmq/pull/4676). It happens after every Redis
    // restart, until that connection's next retry (up to 2 s, packages/queue connection.ts), and
    // for the whole of an outage. So the graceful close starts only once that connection is live.
    // Without a job in flight there is nothing to wait for.
    const blockingLive = await untilBlockingConnectionLive(worker, jobsInFlight === 0 ? 0 : timeoutMs);
    if (!blockingLive) {
      // Redis is still away. Without a job in flight nothing is lost by not waiting for it; with
      // some, the drain window is over. `close(true)` skips the wait above (and the jobs).
      const nothingInFlight = jobsInFlight === 0;
      if (!nothingInFlight) {
        logger.warn({ timeoutMs }, 'shutdown: Redis still unreachable; interrupting the jobs in flight');
        calls.abort();
      }
      await settlesWithin(worker.close(true), SETTLE_AFTER_CANCEL_MS);
      await deadLetters.close();
      return nothingInFlight;
    }
    const closing = worker.close();
    let finishedInTime = await settlesWithin(closing, Math.max(0, deadline - Date.now()));
    let cancelled = false;
    if (!finishedInTime) {
      // `worker.close(true)` would not help here: in BullMQ 6.7.0 a second close() returns the first
      // one's promise (worker.js `close`), which still waits for the jobs. So the calls are cut off.
      logger.warn({ timeoutMs }, 'shutdown: jobs still in flight after the timeout; interrupting them');
      cancelled = true;
      calls.abort();
      finishedInTime = await settlesWithin(closing, SETTLE_AFTER_CANCEL_MS);
      if (!finishedInTime) {
        logger.error('shutdown: jobs did not settle; BullMQ will run them again after their lock expires');
      }
    }
    await deadLetters.close();
    return finishedInTime && !cancelled;
  };

  return { worker, deadLetters, close };
}

/**
 * ioredis states in which the connection has no socket to close, so `disconnect()` emits no 'end'
 * (ioredis Redis.js `disconnect`; 'connecting': the socket may not exist yet).
 */
const SOCKETLESS_STATES = new Set(['reconnecting', 'connecting']);

/**
 * Resolves true when the worker's blocking connection has a socket BullMQ can close (at once, or
 * once it reconnects within `withinMs`), false when it still has none by then.
 */
async function untilBlockingConnectionLive(
  worker: Worker<unknown, TaskUpdateResult>,
  withinMs: number,
): Promise<boolean> {
  const client = await worker.getBackend().blockingClient;
  if (!client || !SOCKETLESS_STATES.has(client.status)) return true;
  if (withinMs <= 0) return false;
  return new Promise<boolean>((resolve) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      client.removeListener('ready', onReady);
      resolve(false);
    }, withinMs);
    client.once('ready', onReady);
  });
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

/**
 * A job handed a call-in-flight place (rate-budget.ts release) waits as a delayed job: it is promoted
 * now. It may still be active, on its way to delayed (on a loaded machine for a while), so while it is
 * active it is looked at again in the background, every 25 ms for up to 2 s, without holding up the
 * job that released the place. False when the job is gone or finished, so the place goes to the next
 * waiter.
 */
async function wakeWaiter(
  worker: Worker,
  jobId: string,
  stillWaiting: () => Promise<boolean>,
): Promise<boolean> {
  const look = async (): Promise<'woken' | 'gone' | 'active'> => {
    const job = await Job.fromId(worker, jobId);
    if (!job) return 'gone';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return 'gone';
    if (state === 'active') return 'active';
    if (state === 'delayed') {
      // Delayed for its own slot by now (it reserved one and gave the place back): left alone.
      if (!(await stillWaiting())) return 'woken';
      try {
        await job.promote();
      } catch {
        return 'active'; // moved meanwhile: looked at again
      }
    }
    return 'woken'; // promoted, or already waiting with its place
  };
  const first = await look();
  if (first !== 'active') return first === 'woken';
  void (async () => {
    for (let tries = 0; tries < 80 && !worker.closing; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 25).unref());
      if ((await look()) !== 'active') return;
    }
  })().catch(() => undefined); // best effort: the job also comes back at its estimated turn
  return true;
}
