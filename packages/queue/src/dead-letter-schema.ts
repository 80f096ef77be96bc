import { z } from 'zod';

/**
 * Why a job was dead-lettered (docs/contracts.md, "Dead letters"). Stable codes: operators filter and alert on them.
 * GHL_* are GHL's permanent refusals; RETRIES_EXHAUSTED ends retryable failures (5xx, 408,
 * timeouts, connection errors); INVALID_JOB is data no version of the worker can process;
 * NO_CREDENTIALS: the worker has no token for the job's location (nothing was sent to GHL);
 * STALLED_REPEATEDLY: the job was interrupted (worker crash, lost lock) more often than the worker
 * allows, e.g. a job that crashes the process, so it is parked instead of crashing it again.
 */
export const DeadLetterReason = z.enum([
  'GHL_BAD_REQUEST',
  'GHL_UNAUTHORIZED',
  'GHL_FORBIDDEN',
  'GHL_NOT_FOUND',
  'GHL_UNPROCESSABLE',
  'GHL_BAD_RESPONSE',
  'RETRIES_EXHAUSTED',
  'INVALID_JOB',
  'NO_CREDENTIALS',
  'STALLED_REPEATEDLY',
]);
export type DeadLetterReason = z.infer<typeof DeadLetterReason>;

/** One job in `task-updates-dead`; its id is the original job id. Never carries a secret. */
export const DeadLetter = z.object({
  /** The original job data, as it was (it may be invalid: INVALID_JOB). */
  job: z.unknown(),
  reason: DeadLetterReason,
  http: z.object({ status: z.number().int(), body: z.unknown() }).optional(),
  attempts: z.number().int().nonnegative(),
  firstAttemptAt: z.iso.datetime({ offset: true }),
  deadAt: z.iso.datetime({ offset: true }),
  lastError: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;
