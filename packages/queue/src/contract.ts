/**
 * `@closeloop/queue/contract`: the values of the queue contract that load nothing but zod (no bullmq,
 * ioredis or runtime), for callers that need them before they open a queue — the `closeloop` command
 * lists the dead-letter reasons in `--help` on every start (apps/cli/README.md, "Start-up time").
 */
export { DeadLetterReason } from './dead-letter-schema.js';
export { DEFAULT_STATS_MAX_SCAN } from './queue-stats.js';
