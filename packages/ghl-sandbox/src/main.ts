import { loadConfig } from './config.js';
import { startSandboxWithState } from './server.js';

/**
 * `pnpm start:sandbox`: one sandbox process configured only by the environment (DESIGN §2.1/2.2).
 * Exits 1 listing every configuration problem; SIGTERM/SIGINT close the server and let the process end.
 */
async function main(): Promise<void> {
  const result = loadConfig(process.env);
  if (!result.ok) {
    console.error('ghl-sandbox: invalid configuration');
    for (const problem of result.problems) console.error(`  - ${problem}`);
    process.exitCode = 1;
    return;
  }
  const { sandbox, state } = await startSandboxWithState(result.config.start);
  if (result.config.seed) {
    try {
      state.seed(result.config.seed);
    } catch (error) {
      console.error(`ghl-sandbox: invalid seed: ${error instanceof Error ? error.message : String(error)}`);
      await sandbox.close();
      process.exitCode = 1;
      return;
    }
  }
  console.log(`ghl-sandbox listening on ${sandbox.url}`);

  const shutdown = (signal: NodeJS.Signals): void => {
    console.log(`ghl-sandbox: ${signal}, closing`);
    sandbox.close().then(
      () => undefined,
      (error: unknown) => {
        console.error(`ghl-sandbox: close failed: ${String(error)}`);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

main().catch((error: unknown) => {
  console.error(`ghl-sandbox: failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
