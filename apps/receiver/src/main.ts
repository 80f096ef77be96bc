import { requireConfig, run } from '@closeloop/runtime';
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startReceiver } from './server.js';

/**
 * `pnpm start:receiver`: configured only by the environment (docs/contracts.md). SIGTERM/SIGINT →
 * stop accepting, finish requests in flight, close the queues and Redis, exit 0. Exit codes and
 * signals: packages/runtime/README.md.
 */
const config = requireConfig('receiver', loadConfig(process.env));
const logger = createLogger(config.logLevel, undefined, config.logFormat);

run({ name: 'receiver', logger, start: () => startReceiver(config, { logger }) });
