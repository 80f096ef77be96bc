import type { JobsOptions } from 'bullmq';

/** Custom backoff type, computed by the worker's failure policy (full jitter; base, cap configurable there). */
export const RETRY_BACKOFF_TYPE = 'closeloop-full-jitter';

/**
 * A ceiling, not the policy: the worker's failure policy decides when retries are exhausted
 * (RETRY_ATTEMPTS, default 8) and dead-letters the job itself, so BullMQ must never fail a job on
 * its own count first. Keeping the number in the worker means one setting, in the process that acts on it.
 */
export const JOB_ATTEMPTS_CEILING = 1_000;

/** How long a redelivery is still recognised as a duplicate: 72 h (HubSpot retries for 3 days). */
export const DEDUPE_TTL_SECONDS = 72 * 60 * 60;

export const TASK_UPDATE_JOB_OPTIONS: JobsOptions = {
  attempts: JOB_ATTEMPTS_CEILING,
  backoff: { type: RETRY_BACKOFF_TYPE },
  // Completed jobs are kept a day for inspection; duplicates are recognised by the dedupe record
  // (DEDUPE_TTL_SECONDS), not by the job's presence. `age` is in seconds (types/keep-jobs.d.ts).
  removeOnComplete: { age: 24 * 60 * 60, count: 100_000 },
  // Failed jobs are kept 30 days so a dead letter can be replayed from its original job.
  removeOnFail: { age: 30 * 24 * 60 * 60 },
};
