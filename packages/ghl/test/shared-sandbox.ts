import { afterAll, afterEach, beforeAll, beforeEach } from '@jest/globals';
import { startSandbox, type RunningSandbox, type SandboxSeed } from '@closeloop/ghl-sandbox';
import { createGhlClient, type GhlClient, type GhlClientOptions } from '../src/client.js';
import { StaticTokenCredentials } from '../src/credentials.js';

export interface SharedSandbox {
  /** `url` and `control` of the running sandbox. */
  readonly sandbox: Pick<RunningSandbox, 'url' | 'control'>;
  /** A client of the sandbox with `tokens` as its credentials unless overridden; closed after the test. */
  readonly clientFor: (options?: Partial<GhlClientOptions>) => GhlClient;
}

/**
 * One sandbox for the whole test file, with a burst budget the file cannot exhaust, reset to `seed`
 * before each test. Call it at the top of the file.
 */
export function useSharedSandbox(seed: SandboxSeed, tokens: Record<string, string>): SharedSandbox {
  let running: RunningSandbox | undefined;
  const openClients: GhlClient[] = [];
  const current = (): RunningSandbox => {
    if (!running) throw new Error('the shared sandbox is used before beforeAll started it');
    return running;
  };
  beforeAll(async () => {
    running = await startSandbox({ burstLimit: 10_000 });
  });
  beforeEach(async () => {
    await current().control.reset();
    await current().control.seed(seed);
  });
  afterEach(async () => {
    await Promise.all(openClients.splice(0).map((client) => client.close()));
  });
  afterAll(async () => {
    await running?.close();
  });
  return {
    sandbox: {
      get url() {
        return current().url;
      },
      get control() {
        return current().control;
      },
    },
    clientFor: (options = {}) => {
      const client = createGhlClient({
        baseUrl: current().url,
        credentials: new StaticTokenCredentials(tokens),
        ...options,
      });
      openClients.push(client);
      return client;
    },
  };
}
