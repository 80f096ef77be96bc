import { createLogger, requireConfig, run } from '@closeloop/runtime';
import { loadConfig } from './config.js';
import { startSandboxWithState } from './server.js';

/**
 * `pnpm start:sandbox`: one sandbox process configured only by the environment (docs/contracts.md).
 * Exit codes and signals: packages/runtime/README.md.
 */
const config = requireConfig('ghl-sandbox', loadConfig(process.env));
const logger = createLogger({ service: 'ghl-sandbox', level: config.logLevel, format: config.logFormat });

run({
  name: 'ghl-sandbox',
  logger,
  start: async () => {
    const { sandbox, state } = await startSandboxWithState(config.start);
    if (config.seed) {
      try {
        state.seed(config.seed);
      } catch (error) {
        await sandbox.close();
        throw new Error(`invalid seed: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
    }
    logger.info({ url: sandbox.url }, `ghl-sandbox listening on ${sandbox.url}`);
    return sandbox;
  },
});
