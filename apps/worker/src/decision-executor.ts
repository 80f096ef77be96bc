import { GhlError } from '@closeloop/ghl';
import { rememberFirstAttempt, writeDeadLetter, type DeadLetterStore } from '@closeloop/queue';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Decision } from './failure-policy.js';
import type { Logger } from './logger.js';
import type { RateBudget } from './rate-budget.js';
import type { TaskWorkerObserver } from './task-worker-observer.js';

/** What a completed job records (its BullMQ return value). */
export type TaskUpdateResult =
  /** The task as GHL returned it after the PUT. */
  | { taskId: string; completed: boolean; status: number }
  /** A newer event for the task was already applied (ordering guard); GHL was not called. */
  | { skipped: 'STALE_EVENT'; taskId: string; lastAppliedAt: string };

export type TaskJob = Job<unknown, TaskUpdateResult>;

/**
 * Thrown after the dead letter is written, so the job lands in the failed set. An UnrecoverableError
 * (BullMQ moves it to failed whatever attempts are left, job.js `shouldRetryJob`).
 */
export class DeadLetteredError extends UnrecoverableError {
  constructor(
    readonly reason: string,
    lastError: string,
  ) {
    super(`${reason}: ${lastError}`);
  }
}

/** One run of one job: what every outcome line carries. */
export interface JobRun {
  job: TaskJob;
  jobId: string;
  token: string | undefined;
  locationId: string | undefined;
  startedAt: number;
}

/** Why the run did not complete: the error (when there was one) and words for the dead letter. */
export interface Failure {
  error?: unknown;
  message?: string;
}

export interface ExecutorDeps {
  store: DeadLetterStore;
  budget: RateBudget;
  logger: Logger;
  observer: TaskWorkerObserver;
}

/**
 * Carries out what the failure policy decided, and reports each job's outcome: exactly one log line
 * (info, warn or error) and one observer call per outcome — completed, delayed, retrying,
 * dead-lettered — with jobId, locationId, outcome, reason or code, GHL's status, attempts and ms.
 * It never looks at reasons to decide anything: the Decision says how loud, how long, what to keep.
 */
export interface DecisionExecutor {
  completed(run: JobRun, result: TaskUpdateResult): TaskUpdateResult;
  /** Always throws, as BullMQ expects of a job that did not complete. */
  carryOut(run: JobRun, decision: Exclude<Decision, { kind: 'done' }>, failure: Failure): Promise<never>;
  /** True for an error this executor already logged as the job's outcome (a retry it decided). */
  reported(error: unknown): boolean;
}

export function createDecisionExecutor(deps: ExecutorDeps): DecisionExecutor {
  const { store, budget, logger, observer } = deps;
  const reported = new WeakSet<object>();
  const fields = (run: JobRun, outcome: string, extra: Record<string, unknown>) => ({
    jobId: run.jobId,
    locationId: run.locationId,
    outcome,
    ...extra,
    attempts: run.job.attemptsMade + 1,
    ms: Date.now() - run.startedAt,
  });

  return {
    reported: (error) => typeof error === 'object' && error !== null && reported.has(error),
    completed(run, result) {
      if ('skipped' in result) {
        logger.info(
          fields(run, 'completed', { reason: result.skipped, taskId: result.taskId }),
          'stale event skipped',
        );
        observer.onJobCompleted('stale');
      } else {
        logger.info(
          fields(run, 'completed', { status: result.status, completed: result.completed }),
          'task updated',
        );
        observer.onJobCompleted('updated');
      }
      return result;
    },

    async carryOut(run, decision, failure) {
      const { job, jobId } = run;
      const status = failure.error instanceof GhlError ? failure.error.status : undefined;
      switch (decision.kind) {
        case 'delay': {
          const delayMs = Math.max(0, decision.untilMs - Date.now());
          if (decision.holdLocationMs !== undefined && run.locationId !== undefined) {
            await budget.holdBack(run.locationId, decision.holdLocationMs);
          }
          await job.moveToDelayed(decision.untilMs, run.token);
          // Written once the move succeeded: a line says what happened, not what was meant to.
          logger[decision.logLevel](
            fields(run, 'delayed', { reason: decision.reason, status, delayMs }),
            'job delayed (no attempt spent)',
          );
          observer.onJobDelayed(decision.reason);
          throw new DelayedError();
        }
        case 'retry': {
          if (job.attemptsMade === 0)
            await rememberFirstAttempt(store, jobId, job.processedOn ?? run.startedAt);
          const error = failure.error instanceof Error ? failure.error : new Error(describe(failure));
          logger.warn(
            fields(run, 'retrying', { code: decision.code, status, error: error.message }),
            'attempt failed; retrying with backoff',
          );
          observer.onJobRetried(decision.code);
          reported.add(error);
          throw error;
        }
        case 'dead-letter': {
          const lastError =
            decision.waitingFor === undefined
              ? describe(failure)
              : `still waiting (${decision.waitingFor}) at JOB_MAX_AGE: ${describe(failure)}`;
          await writeDeadLetter(store, {
            jobId,
            job: job.data,
            reason: decision.reason,
            http: decision.http,
            match: decision.match,
            attempts: job.attemptsMade + 1,
            attemptStartedAt: job.processedOn ?? run.startedAt,
            retriedBefore: job.attemptsMade > 0,
            lastError,
          });
          logger[decision.logLevel](
            fields(run, 'dead-lettered', {
              reason: decision.reason,
              status: decision.http?.status ?? status,
              error: lastError,
            }),
            `job dead-lettered: ${decision.reason}`,
          );
          observer.onJobDeadLettered(decision.reason);
          throw new DeadLetteredError(decision.reason, lastError);
        }
      }
    },
  };
}

function describe(failure: Failure): string {
  if (failure.message !== undefined) return failure.message;
  if (failure.error instanceof Error) return failure.error.message;
  return String(failure.error);
}
