import {
  ReauthRequiredError,
  createCredentialStore,
  createOAuthClient,
  createStoreCredentialsProvider,
  type CredentialStore,
  type CredentialsLogger,
} from '@closeloop/credentials';
import { StaticTokenCredentials, type CredentialsProvider } from '@closeloop/ghl';
import type { Cluster, Redis } from 'ioredis';
import type { WorkerConfig } from './config.js';

export interface WorkerCredentials {
  /** What the GHL client asks for a token (packages/ghl CredentialsProvider). */
  provider: CredentialsProvider;
  /** The encrypted store, when CREDENTIALS_KEY is set. */
  store: CredentialStore | undefined;
}

export interface WorkerCredentialsDeps {
  config: WorkerConfig;
  /** For the store and its refresh locks; the worker's own connection (its prefix is QUEUE_PREFIX). */
  redis: Redis | Cluster;
  logger: CredentialsLogger;
  /** Refresh this long before expiry; default packages/credentials' 5 min (tests use short-lived tokens). */
  refreshMarginMs?: number;
}

/**
 * The worker's credentials, per location:
 *
 * 1. A token from the environment (GHL_TOKEN + GHL_LOCATION_ID, GHL_LOCATION_TOKENS) for its location.
 * 2. Otherwise, with CREDENTIALS_KEY, the encrypted store (packages/credentials): a PIT, an OAuth
 *    install (refreshed single-flight across processes) or a location of a Company install.
 *
 * The environment comes first because it is what the operator deployed with this process: a location
 * listed there behaves exactly as before the store existed (single-location mode and
 * GHL_LOCATION_TOKENS are unchanged, and no Redis read or decryption sits in front of their calls),
 * and a stale record left in the store cannot override it. To move a location to OAuth, install the
 * app and remove the location from the environment.
 */
export function createWorkerCredentials(deps: WorkerCredentialsDeps): WorkerCredentials {
  const { config, redis, logger } = deps;
  const envTokens = config.ghl.tokens;
  const fromEnv = Object.keys(envTokens).length > 0 ? new StaticTokenCredentials(envTokens) : undefined;
  const key = config.ghl.credentialsKey;
  if (key === undefined) {
    // loadConfig requires a credential source, so without a store there are env tokens.
    if (fromEnv === undefined)
      throw new TypeError('no GHL credentials: neither env tokens nor CREDENTIALS_KEY');
    return { provider: fromEnv, store: undefined };
  }

  const store = createCredentialStore({ redis, prefix: config.queuePrefix, key });
  const app = config.ghl.oauthApp;
  const fromStore = createStoreCredentialsProvider({
    store,
    redis,
    logger,
    ...(deps.refreshMarginMs !== undefined && { refreshMarginMs: deps.refreshMarginMs }),
    // Without the app only PIT records work; an OAuth record due for a refresh fails permanently
    // (and is logged once per location by the provider).
    oauth:
      app === undefined
        ? undefined
        : createOAuthClient({
            // GHL's token endpoints are on the API host (docs/ghl-api.md §3.1); the sandbox serves both.
            baseUrl: config.ghl.baseUrl,
            clientId: app.clientId,
            clientSecret: app.clientSecret,
            timeoutMs: config.ghl.timeoutMs,
          }),
  });
  const isEnvLocation = (locationId: string | undefined): boolean =>
    fromEnv !== undefined &&
    (locationId === undefined ? Object.keys(envTokens).length === 1 : Object.hasOwn(envTokens, locationId));

  const provider: CredentialsProvider = {
    getToken(locationId) {
      return isEnvLocation(locationId) && fromEnv
        ? fromEnv.getToken(locationId)
        : fromStore.getToken(locationId);
    },
    async onUnauthorized(locationId, rejectedToken, error) {
      // A PIT never refreshes (docs/ghl-api.md §3): its 401 is final.
      if (isEnvLocation(locationId) || !fromStore.onUnauthorized) return false;
      if (await fromStore.onUnauthorized(locationId, rejectedToken, error)) return true;
      // The refresh this 401 triggered found the grant gone (invalid_grant, an uninstall), or another
      // job's did: the location waits for a reconnection like a job whose getToken threw, instead of
      // dead-lettering GHL_UNAUTHORIZED. The client passes an error thrown here through unchanged
      // (packages/ghl client.ts `attempt`), so the failure policy sees ReauthRequiredError and no
      // worker step needs to know about the store.
      const mark = locationId === undefined ? undefined : await store.needsReauth(locationId);
      if (mark !== undefined) throw new ReauthRequiredError(mark.reason, { locationId });
      return false;
    },
  };
  return { provider, store };
}
