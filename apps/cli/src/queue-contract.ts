/**
 * The few values of `@closeloop/queue` that the command needs before any command runs: the
 * dead-letter reasons (`--reason` choices, listed by `--help`) and the default of `queue stats
 * --max-scan`. They come from `@closeloop/queue/contract`, which imports zod and nothing else,
 * instead of from the package's index, which loads bullmq, ioredis, pino and
 * prom-client: through tsx that is about a second of every start, paid by `--help` and usage errors
 * for nothing (apps/cli/README.md, "Start-up time"). Everything else of `@closeloop/queue` is loaded
 * when a command runs (`loadQueueLibrary` in src/redis.ts).
 */
export { DeadLetterReason, DEFAULT_STATS_MAX_SCAN } from '@closeloop/queue/contract';
