import { TASK_UPDATES_QUEUE } from './names.js';

/**
 * Every Redis key of ours under `{prefix}:task-updates:` in one place, beside BullMQ's own (a job's
 * hash is `{prefix}:{queue}:{jobId}`, docs/bullmq.md). Sharing the queue's prefix keeps them in the
 * queue's hash slot on Redis Cluster (`{closeloop}`), so scripts may touch them together.
 */

/** BullMQ's hash for one job (fields `data`, `opts`, `atm`, `ats`, `stc`, …). */
export function jobKeyFor(prefix: string, queue: string, jobId: string): string {
  return `${prefix}:${queue}:${jobId}`;
}

/** The dedupe record of one job id: written once the job exists, kept DEDUPE_TTL_SECONDS (72 h). */
export function dedupeKeyFor(prefix: string, jobId: string): string {
  return `${prefix}:${TASK_UPDATES_QUEUE}:dedupe:${jobId}`;
}

/**
 * When a job's first attempt started (epoch ms), for its dead letter's `firstAttemptAt`: written at the
 * first retry, removed when the job ends (completed or dead-lettered). BullMQ keeps only the current
 * attempt's `processedOn`.
 */
export function firstAttemptKeyFor(prefix: string, jobId: string): string {
  return `${prefix}:${TASK_UPDATES_QUEUE}:first-attempt:${jobId}`;
}
