import { z } from 'zod';

/**
 * Why a job was dead-lettered (docs/contracts.md, "Dead letters"). Stable codes: operators filter and alert on them.
 * GHL_* are GHL's permanent refusals; RETRIES_EXHAUSTED ends retryable failures (5xx, 408,
 * timeouts, connection errors); INVALID_JOB is data no version of the worker can process;
 * NO_CREDENTIALS: the worker has no token for the job's location (nothing was sent to GHL);
 * STALLED_REPEATEDLY: the job was interrupted (worker crash, lost lock) more often than the worker
 * allows, e.g. a job that crashes the process, so it is parked instead of crashing it again.
 * NO_MATCH / AMBIGUOUS_MATCH: the event names no task ids and the lookup found no task for its
 * ticket, or several (docs/matching.md); the letter's `match` says what was searched and found.
 * EXPIRED: the job kept waiting (429s, the budget, a busy task) past JOB_MAX_AGE; GHL_REAUTH_REQUIRED:
 * it waited for its location's OAuth grant to be reconnected past JOB_MAX_AGE.
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
  'NO_MATCH',
  'AMBIGUOUS_MATCH',
  'EXPIRED',
  'GHL_REAUTH_REQUIRED',
]);
export type DeadLetterReason = z.infer<typeof DeadLetterReason>;

/** What the worker searched for a task, and what it found (docs/matching.md). */
export const DeadLetterMatch = z.object({
  searched: z.object({
    locationId: z.string(),
    ticket: z.string(),
    pattern: z.string(),
    email: z.string().optional(),
    /** The contact found by email, whose tasks were searched. */
    contactId: z.string().optional(),
    /** The state the task had to be in: open (false) for a close, completed (true) for a reopen. */
    completed: z.boolean(),
    /** The GHL route(s) asked, e.g. "GET /contacts/search/duplicate + GET /contacts/{contactId}/tasks". */
    route: z.string(),
  }),
  candidates: z
    .array(z.object({ taskId: z.string(), contactId: z.string(), title: z.string(), completed: z.boolean() }))
    .optional(),
});
export type DeadLetterMatch = z.infer<typeof DeadLetterMatch>;

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
  /** NO_MATCH and AMBIGUOUS_MATCH: what the worker searched, and the candidates it could not choose between. */
  match: DeadLetterMatch.optional(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;
