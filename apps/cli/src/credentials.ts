import type { CredentialStore, CredentialsKey } from '@closeloop/credentials';
import { z } from 'zod';
import type { QueueSettings } from './env.js';
import { usageError } from './errors.js';
import { CONNECT_DEADLINE_MS, redisUnreachable, withinDeadline } from './redis.js';

/** Where the `locations` commands find the credential store: the queues' Redis and prefix, and its key. */
export interface CredentialSettings extends QueueSettings {
  key: CredentialsKey;
}

/**
 * `@closeloop/credentials` (got, ioredis, zod), loaded when a `locations` command runs, not at start:
 * `--help` and usage errors of the other commands must not pay for it (apps/cli/README.md, "Start-up time").
 */
export function loadCredentialsLibrary(): Promise<typeof import('@closeloop/credentials')> {
  return import('@closeloop/credentials');
}

/**
 * REDIS_URL and QUEUE_PREFIX as every other command reads them (the runtime's `QueueEnv`), plus
 * CREDENTIALS_KEY, which these commands need and the others do not. Every problem at once (exit 2);
 * the key is parsed by the store's own schema, whose messages name an entry by position, never its value.
 */
export async function loadCredentialSettings(env: NodeJS.ProcessEnv): Promise<CredentialSettings> {
  const { QueueEnv, blankAsUnset, parseEnv, queueEnvProblems, redactRedisUrl } =
    await import('@closeloop/runtime');
  const { CredentialsKeyEnv } = await loadCredentialsLibrary();
  const schema = z.object({
    ...QueueEnv,
    CREDENTIALS_KEY: z.preprocess(blankAsUnset, CredentialsKeyEnv.optional()),
  });
  const result = parseEnv(schema, env, (_values, given) => [
    ...queueEnvProblems(given),
    ...(blankAsUnset(given.CREDENTIALS_KEY) === undefined
      ? [
          'CREDENTIALS_KEY: required by the locations commands: the key(s) of the encrypted credential store, ' +
            'the same value the worker runs with (openssl rand -base64 32 makes a new one)',
        ]
      : []),
  ]);
  if (!result.ok) {
    throw usageError(
      ['invalid environment', ...result.problems.map((problem) => `  - ${problem}`)].join('\n'),
    );
  }
  const { REDIS_URL: redisUrl, QUEUE_PREFIX: prefix, CREDENTIALS_KEY: key } = result.config;
  // parseEnv's refine above made an unset key a problem, so it is set here.
  if (key === undefined) throw usageError('invalid environment\n  - CREDENTIALS_KEY: required');
  return { redisUrl, prefix, redactedRedisUrl: redactRedisUrl(redisUrl), key };
}

export interface OpenCredentialStore {
  store: CredentialStore;
  close(): Promise<void>;
}

/**
 * The store on a plain ioredis connection (no BullMQ: these commands touch no queue) that gives up
 * like the dead-letter admin's (packages/queue/src/dead-letters.ts `openDeadLetterAdmin`): a few quick
 * reconnects, one retry per command, and an answer within CONNECT_DEADLINE_MS, never a hang.
 */
export async function connectCredentialStore(settings: CredentialSettings): Promise<OpenCredentialStore> {
  // `@closeloop/queue/connection` (ioredis, no bullmq): a single Redis or a Redis Cluster (REDIS_URL).
  const [{ createRedisConnection }, { createCredentialStore }] = await Promise.all([
    import('@closeloop/queue/connection'),
    loadCredentialsLibrary(),
  ]);
  const redis = createRedisConnection(settings.redisUrl, 'worker', {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => (times > 3 ? null : 200 * times),
  });
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  const ready = new Promise<true>((resolve, reject) => {
    redis.once('ready', () => resolve(true));
    // 'end': the retry strategy gave up.
    redis.once('end', () => reject(lastError ?? new Error('Connection is closed')));
  });
  // Past the deadline nobody awaits `ready` any more; its later rejection must not go unhandled.
  ready.catch(() => undefined);
  let connected: true | undefined;
  try {
    connected = await withinDeadline(ready, CONNECT_DEADLINE_MS);
  } catch (error) {
    redis.disconnect();
    throw redisUnreachable(settings, error);
  }
  if (!connected) {
    redis.disconnect();
    throw redisUnreachable(settings);
  }
  return {
    store: createCredentialStore({ redis, prefix: settings.prefix, key: settings.key }),
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
