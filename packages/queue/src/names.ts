/** Queue names are a public contract (docs/contracts.md, "Queues"): operators and internal producers script against them. */
export const TASK_UPDATES_QUEUE = 'task-updates';
export const DEAD_LETTER_QUEUE = 'task-updates-dead';

/**
 * BullMQ key prefix; on Redis Cluster use a hash tag such as `{closeloop}` so every key shares a slot.
 * Defined once, with the QUEUE_PREFIX variable it is the default of (packages/runtime/src/queue-env.ts).
 */
export { DEFAULT_QUEUE_PREFIX } from '@closeloop/runtime';

/** The job name every task-update job carries (BullMQ needs one; Bull Board shows it). */
export const TASK_UPDATE_JOB_NAME = 'task-update';
export const DEAD_LETTER_JOB_NAME = 'dead-letter';
