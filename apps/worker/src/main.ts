import { createGhlClient, StaticTokenCredentials } from '@closeloop/ghl';
import { createRedisConnection } from '@closeloop/queue';
import { requireConfig, run } from '@closeloop/runtime';
import type { Redis } from 'ioredis';
import { describeConfig, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createTaskWorker } from './task-worker.js';

/**
 * Beyond SHUTDOWN_TIMEOUT_MS (the drain of jobs in flight), the time closing the GHL client and
 * Redis may take before the process gives up and exits 1.
 */
const CLOSE_MARGIN_MS = 5_000;

/**
 * `pnpm start:worker`: one worker process, configured only by the environment (docs/contracts.md).
 * SIGTERM/SIGINT: stop taking jobs, let the ones in flight finish within SHUTDOWN_TIMEOUT_MS, close
 * everything, exit 0. Exit codes: packages/runtime/README.md. This module creates the Redis
 * connection and the GHL client, so it closes them, after the task worker.
 */
const config = requireConfig('worker', loadConfig(process.env));
const logger = createLogger(config.logLevel, undefined, config.logFormat);

run({
  name: 'worker',
  logger,
  shutdownTimeoutMs: config.shutdownTimeoutMs + CLOSE_MARGIN_MS,
  start: () => {
    const connection = createRedisConnection(config.redisUrl, 'worker');
    // Without a listener ioredis reports every failed reconnect as an unhandled 'error' event.
    connection.on('error', (error: Error) => logger.warn({ error: error.message }, 'redis connection error'));
    const ghl = createGhlClient({
      baseUrl: config.ghl.baseUrl,
      apiVersion: config.ghl.apiVersion,
      credentials: new StaticTokenCredentials(config.ghl.tokens),
      timeoutMs: config.ghl.timeoutMs,
    });
    const taskWorker = createTaskWorker({ config, ghl, logger, connection });
    logger.info(describeConfig(config), 'worker started');

    const close = async (): Promise<void> => {
      let clean: boolean | undefined;
      try {
        clean = await taskWorker.close(config.shutdownTimeoutMs);
      } finally {
        try {
          await ghl.close();
        } finally {
          await quitRedis(connection);
        }
      }
      logger.info({ clean }, 'worker stopped');
    };
    return Promise.resolve({ close });
  },
});

async function quitRedis(connection: Redis): Promise<void> {
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
