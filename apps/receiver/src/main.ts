import { requireConfig, run } from '@closeloop/runtime';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { REQUEST_DRAIN_GRACE_MS, startReceiver } from './server.js';

/**
 * `pnpm start:receiver`: configured only by the environment (docs/contracts.md). SIGTERM/SIGINT →
 * stop accepting, finish requests in flight, close the queues and Redis, exit 0. Exit codes and
 * signals: packages/runtime/README.md.
 */
const config = requireConfig('receiver', loadConfig(process.env));
const logger = createLogger(config.logLevel, undefined, config.logFormat);

/** Beyond the drain of requests in flight, the time closing the queues and Redis may take. */
const CLOSE_MARGIN_MS = 5_000;

run({
  name: 'receiver',
  logger,
  shutdownTimeoutMs: REQUEST_DRAIN_GRACE_MS + CLOSE_MARGIN_MS,
  start: () => startReceiver(config, { logger }),
});
