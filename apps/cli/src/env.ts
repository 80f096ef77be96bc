import { z } from 'zod';
import { usageError } from './errors.js';

/** Where the command finds the queues: the same REDIS_URL and QUEUE_PREFIX as the receiver and worker. */
export interface QueueSettings {
  redisUrl: string;
  prefix: string;
  /** REDIS_URL with its password replaced: the only form of the URL the command ever prints. */
  redactedRedisUrl: string;
}

/**
 * Reads REDIS_URL and QUEUE_PREFIX with the runtime's shared schema, so the command accepts exactly
 * what the other processes accept; every problem is listed at once (exit 2). `@closeloop/runtime` is
 * loaded here, when a command runs, not at start: its index brings pino and prom-client, which
 * `--help` and usage errors do not need (apps/cli/README.md, "Start-up time").
 */
export async function loadQueueSettings(env: NodeJS.ProcessEnv): Promise<QueueSettings> {
  const { QueueEnv, parseEnv, queueEnvProblems, redactRedisUrl } = await import('@closeloop/runtime');
  const result = parseEnv(z.object(QueueEnv), env, (_values, given) => queueEnvProblems(given));
  if (!result.ok) {
    throw usageError(
      ['invalid environment', ...result.problems.map((problem) => `  - ${problem}`)].join('\n'),
    );
  }
  const { REDIS_URL: redisUrl, QUEUE_PREFIX: prefix } = result.config;
  return { redisUrl, prefix, redactedRedisUrl: redactRedisUrl(redisUrl) };
}
