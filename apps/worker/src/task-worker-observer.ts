import type { DeadLetterReason } from '@closeloop/queue';
import type { DelayReason } from './failure-policy.js';

/**
 * What the task worker reports about each job, for metrics (worker-metrics.ts implements it with
 * prom-client). Labels stay bounded: reasons and codes only, never a task, contact or location id.
 */
export interface TaskWorkerObserver {
  /** The job finished: `updated` after GHL's 200, `stale` when the ordering guard skipped it. */
  onJobCompleted(outcome: 'updated' | 'stale'): void;
  /** The job was moved to delayed without spending an attempt. */
  onJobDelayed(reason: DelayReason): void;
  /** The attempt failed and BullMQ retries it with backoff; `code` is GhlError's code or the error's name. */
  onJobRetried(code: string): void;
  /** A dead letter was written for the job. */
  onJobDeadLettered(reason: DeadLetterReason): void;
}

export const NO_OBSERVER: TaskWorkerObserver = {
  onJobCompleted: () => undefined,
  onJobDelayed: () => undefined,
  onJobRetried: () => undefined,
  onJobDeadLettered: () => undefined,
};
