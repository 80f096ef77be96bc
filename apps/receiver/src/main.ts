import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startReceiver, type RunningReceiver } from './server.js';

/**
 * `pnpm start:receiver`: configured only by the environment (DESIGN §2.2). Invalid configuration
 * → every problem on stderr, exit 1. SIGTERM/SIGINT → stop accepting, finish requests in flight,
 * close the queues and Redis, exit 0; a second signal exits at once.
 */
let config;
try {
  config = loadConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`receiver: ${error.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
let receiver: RunningReceiver | undefined;
let stopping = false;

const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down');
  // Before startReceiver resolves nothing has been accepted, so there is nothing to drain.
  if (!receiver) process.exit(0);
  receiver.close().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

try {
  receiver = await startReceiver(config, { logger });
  // A signal may have arrived while it was starting.
  if (stopping) await receiver.close().then(() => process.exit(0));
} catch (error) {
  logger.fatal({ err: error }, 'receiver failed to start');
  process.exit(1);
}
