import { createGhlClient } from '@closeloop/ghl';
import { DEAD_LETTER_QUEUE, TASK_UPDATES_QUEUE, createRedisConnection } from '@closeloop/queue';
import { createMetricsRegistry, requireConfig, run, startOpsServer } from '@closeloop/runtime';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { describeConfig, loadConfig } from './config.js';
import { createWorkerCredentials } from './credentials.js';
import { createLogger } from './logger.js';
import { createTaskWorker, type TaskWorker } from './task-worker.js';
import { createWorkerMetrics } from './worker-metrics.js';

/**
 * Beyond SHUTDOWN_TIMEOUT_MS (the drain of jobs in flight), the time the rest of the close may take
 * before the process gives up and exits 1: up to 5 s for cancelled GHL calls to settle
 * (task-worker.ts SETTLE_AFTER_CANCEL_MS), then closing the GHL client, the ops server and Redis.
 */
const CLOSE_MARGIN_MS = 10_000;

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
  start: async () => {
    // Probes and scrapes on a fail-fast connection of their own: during an outage they answer at
    // once instead of queueing commands behind the worker's connection, which waits for Redis.
    const opsRedis = createRedisConnection(config.redisUrl, 'producer');
    opsRedis.on('error', () => undefined); // the worker's connection logs the outage
    const opsQueues = {
      taskUpdates: new Queue(TASK_UPDATES_QUEUE, { connection: opsRedis, prefix: config.queuePrefix }),
      deadLetters: new Queue(DEAD_LETTER_QUEUE, { connection: opsRedis, prefix: config.queuePrefix }),
    };
    for (const queue of Object.values(opsQueues)) queue.on('error', () => undefined);
    const metrics = createWorkerMetrics({
      registry: createMetricsRegistry({ service: 'worker' }),
      queues: opsQueues,
      prefix: config.queuePrefix,
    });
    // Filled right after the ops server listens; until then the worker is not ready.
    const running: { taskWorker?: TaskWorker } = {};
    // Before the worker takes a job: a METRICS_PORT already in use fails the start, not a running worker.
    const ops = await startOpsServer({
      ...config.metrics,
      logger,
      isReady: async () =>
        running.taskWorker?.worker.isRunning() === true && (await opsRedis.ping()) === 'PONG',
      metrics: () => metrics.render(),
    });

    const connection = createRedisConnection(config.redisUrl, 'worker');
    // Without a listener ioredis reports every failed reconnect as an unhandled 'error' event.
    connection.on('error', (error: Error) => logger.warn({ error: error.message }, 'redis connection error'));
    // Env tokens for their locations, the encrypted store (CREDENTIALS_KEY) for every other one.
    const { provider: credentials } = createWorkerCredentials({ config, redis: connection, logger });
    const ghl = createGhlClient({
      baseUrl: config.ghl.baseUrl,
      apiVersion: config.ghl.apiVersion,
      credentials,
      timeoutMs: config.ghl.timeoutMs,
      onCall: metrics.onGhlCall,
    });
    const taskWorker = createTaskWorker({ config, ghl, logger, connection, observer: metrics.observer });
    running.taskWorker = taskWorker;
    logger.info({ ...describeConfig(config), metricsUrl: `${ops.url}/metrics` }, 'worker started');

    const close = async (): Promise<void> => {
      let clean: boolean | undefined;
      try {
        clean = await taskWorker.close(config.shutdownTimeoutMs);
      } finally {
        try {
          await ghl.close();
        } finally {
          // After the task worker: /readyz and /metrics answer during the drain.
          await ops.close();
          await Promise.allSettled(Object.values(opsQueues).map((queue) => queue.close()));
          opsRedis.disconnect();
          await quitRedis(connection);
        }
      }
      logger.info({ clean }, 'worker stopped');
    };
    return { close };
  },
});

async function quitRedis(connection: Redis | Cluster): Promise<void> {
  // During an outage QUIT would wait in the offline queue (behind commands of jobs interrupted by
  // the shutdown) for a Redis that may not come back; there is nothing left to flush politely.
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  try {
    await connection.quit();
  } catch {
    connection.disconnect();
  }
}
