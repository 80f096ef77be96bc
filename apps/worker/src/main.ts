import { createGhlClient, StaticTokenCredentials } from '@closeloop/ghl';
import { createRedisConnection } from '@closeloop/queue';
import { describeConfig, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { createTaskWorker } from './task-worker.js';

/**
 * `pnpm start:worker`: one worker process, configured only by the environment (DESIGN §2.1/2.2).
 * Exits 1 listing every configuration problem. SIGTERM/SIGINT: stop taking jobs, let the ones in
 * flight finish within SHUTDOWN_TIMEOUT_MS, close everything, exit 0.
 */
function main(): void {
  const result = loadConfig(process.env);
  if (!result.ok) {
    console.error('closeloop worker: invalid configuration');
    for (const problem of result.problems) console.error(`  - ${problem}`);
    process.exitCode = 1;
    return;
  }
  const config = result.config;
  const logger = createLogger(config.logLevel);

  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    process.exit(1);
  });
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    process.exit(1);
  });

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

  let stopping = false;
  const shutdown = async (signal: NodeJS.Signals): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing jobs in flight');
    const clean = await taskWorker.close(config.shutdownTimeoutMs);
    await ghl.close();
    try {
      await connection.quit();
    } catch {
      connection.disconnect();
    }
    logger.info({ clean }, 'worker stopped');
    process.exit(0);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    shutdown(signal).catch((error: unknown) => {
      logger.fatal({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}

try {
  main();
} catch (error) {
  console.error(
    `closeloop worker: failed to start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exitCode = 1;
}
