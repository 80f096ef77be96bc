import { afterEach } from '@jest/globals';
import type { RunningSandbox, SandboxSeed } from '@closeloop/ghl-sandbox';
import { useSharedSandbox as useSeededSandbox } from '../../ghl-sandbox/test/helpers.js';
import { createGhlClient, type GhlClient, type GhlClientOptions } from '../src/client.js';
import { StaticTokenCredentials } from '../src/credentials.js';

export interface SharedSandbox {
  /** `url` and `control` of the running sandbox. */
  readonly sandbox: Pick<RunningSandbox, 'url' | 'control'>;
  /** A client of the sandbox with `tokens` as its credentials unless overridden; closed after the test. */
  readonly clientFor: (options?: Partial<GhlClientOptions>) => GhlClient;
}

/**
 * The sandbox's own shared-sandbox setup (packages/ghl-sandbox/test/helpers.ts: one sandbox for the
 * file, reset to `seed` before each test), with clients of it. Call it at the top of the file.
 */
export function useSharedSandbox(seed: SandboxSeed, tokens: Record<string, string>): SharedSandbox {
  const sandbox = useSeededSandbox(seed);
  const openClients: GhlClient[] = [];
  afterEach(async () => {
    await Promise.all(openClients.splice(0).map((client) => client.close()));
  });
  return {
    sandbox,
    clientFor: (options = {}) => {
      const client = createGhlClient({
        baseUrl: sandbox.url,
        credentials: new StaticTokenCredentials(tokens),
        ...options,
      });
      openClients.push(client);
      return client;
    },
  };
}
