import { setTimeout as sleep } from 'node:timers/promises';
import { MissingCredentialsError, type CredentialsProvider, type GhlError } from '@closeloop/ghl';
import type { Logger } from '@closeloop/runtime';
import type { Cluster, Redis } from 'ioredis';
import { CredentialsBusyError, OAuthError, ReauthRequiredError } from './errors.js';
import { releaseLock, tryAcquireLock } from './lock.js';
import type { MintedLocationToken, OAuthClient } from './oauth-client.js';
import {
  GhlId,
  accessTokenOf,
  type CompanyCredentials,
  type CompanyMintedCredentials,
  type LocationCredentials,
  type OAuthLocationCredentials,
} from './records.js';
import type { CredentialStore, Versioned } from './store.js';

export const DEFAULT_REFRESH_MARGIN_MS = 5 * 60_000;
const DEFAULT_POLL_INTERVAL_MS = 50;

export type CredentialsLogger = Pick<Logger, 'error' | 'warn' | 'info'>;

export interface StoreCredentialsProviderOptions {
  store: CredentialStore;
  /** The marketplace app's OAuth client; without one only PIT records work (a refresh is a permanent OAuthError). */
  oauth?: OAuthClient | undefined;
  /** For the refresh locks; may be the store's connection. */
  redis: Redis | Cluster;
  /** Default: the store's prefix. Locks are `${prefix}:credentials:lock:{location|company}:{id}`. */
  prefix?: string;
  /** Refresh when the access token expires within this; default 5 min. */
  refreshMarginMs?: number;
  /**
   * How long a refresh lock lives, and how long a process that did not get it waits for the new pair.
   * Must exceed two OAuth requests (a company refresh, then a mint); default 2 × oauth.timeoutMs + 5 s.
   */
  lockTtlMs?: number;
  /** How often a waiting process re-reads the record; default 50 ms. */
  pollIntervalMs?: number;
  logger?: CredentialsLogger | undefined;
  /** Epoch ms, for expiry decisions; default Date.now. */
  now?: () => number;
}

/**
 * GHL's 401s for a missing scope ("The token is not authorized for this scope.") or a missing/unknown
 * Version header ("version header was not found.") are not expiry (docs/ghl-api.md §3); refreshing
 * for them would spend a refresh per job and still fail.
 */
function refreshCannotHelp(error: GhlError | undefined): boolean {
  const text = (error?.ghlMessages ?? []).join(' ').toLowerCase();
  return text.includes('scope') || text.includes('version header');
}

/**
 * packages/ghl's CredentialsProvider over the credential store. Tokens are refreshed shortly before
 * they expire and on a 401, single-flight across every process: GHL's refresh tokens are single-use
 * and rotate on every refresh (docs/ghl-api.md §3), so two processes refreshing the same pair would
 * leave one of them — and then the store — holding a spent token. The protocol (README.md):
 * one Redis lock per location (and per company for the company pair); the holder re-reads the record,
 * refreshes, persists the new pair with compareAndSwap and only then uses it; everyone else polls the
 * record until it changes, bounded by lockTtlMs.
 */
export function createStoreCredentialsProvider(
  options: StoreCredentialsProviderOptions,
): CredentialsProvider {
  const { store, oauth, redis, logger } = options;
  const prefix = options.prefix ?? store.prefix;
  const refreshMarginMs = options.refreshMarginMs ?? DEFAULT_REFRESH_MARGIN_MS;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const now = options.now ?? Date.now;
  const oauthTimeoutMs = oauth?.timeoutMs ?? 0;
  const lockTtlMs = options.lockTtlMs ?? 2 * oauthTimeoutMs + 5_000;
  if (!Number.isFinite(lockTtlMs) || lockTtlMs <= 2 * oauthTimeoutMs) {
    // A lock that expires while its holder still waits for GHL lets a second process refresh the
    // same single-use token.
    throw new TypeError(`lockTtlMs must exceed two OAuth requests (2 × ${oauthTimeoutMs} ms)`);
  }
  if (!Number.isFinite(refreshMarginMs) || refreshMarginMs < 0) {
    throw new TypeError('refreshMarginMs must be a non-negative number');
  }
  const lockKey = {
    location: (id: string) => `${prefix}:credentials:lock:location:${id}`,
    company: (id: string) => `${prefix}:credentials:lock:company:${id}`,
  };
  /** In-process single flight: the jobs of one process share one refresh (and one lock poll). */
  const inFlight = new Map<string, Promise<string>>();
  /** A permanent OAuth failure (e.g. invalid_client) is logged once per location per process. */
  const loggedPermanent = new Set<string>();

  function requireOAuth(): OAuthClient {
    if (oauth === undefined) {
      throw new OAuthError({
        operation: 'refresh',
        message: 'An OAuth record needs a refresh but no OAuth app is configured (client id and secret)',
        retryable: false,
      });
    }
    return oauth;
  }

  function singleFlight(flightKey: string, run: () => Promise<string>): Promise<string> {
    const existing = inFlight.get(flightKey);
    if (existing) return existing;
    const flight = run().finally(() => inFlight.delete(flightKey));
    inFlight.set(flightKey, flight);
    return flight;
  }

  /**
   * Holds the lock and runs `renew`, or waits for whoever holds it: `renewedElsewhere` returns the new
   * token once the record changed (or throws, e.g. when the holder marked the grant dead).
   */
  async function acrossProcesses(
    key: string,
    subject: string,
    renewedElsewhere: () => Promise<string | undefined>,
    renew: () => Promise<string>,
  ): Promise<string> {
    const started = performance.now();
    for (;;) {
      const lock = await tryAcquireLock(redis, key, lockTtlMs);
      if (lock !== undefined) {
        try {
          return await renew();
        } finally {
          // If this fails the lock still expires after lockTtlMs; the renew outcome matters more.
          await releaseLock(redis, lock).catch(() => undefined);
        }
      }
      const token = await renewedElsewhere();
      if (token !== undefined) return token;
      const waited = performance.now() - started;
      if (waited >= lockTtlMs + 2 * pollIntervalMs) {
        logger?.warn(
          { subject, waitedMs: Math.round(waited) },
          'GHL token refresh by another process took too long',
        );
        throw new CredentialsBusyError(subject, Math.round(waited));
      }
      await sleep(pollIntervalMs);
    }
  }

  async function markLocation(
    locationId: string,
    reason: string,
    companyId: string | undefined,
  ): Promise<void> {
    if (await store.markNeedsReauth(locationId, reason)) {
      logger?.error(
        { locationId, ...(companyId !== undefined && { companyId }), reason },
        'GHL location needs reconnection (install the app again); its jobs wait',
      );
    }
  }

  function logPermanent(locationId: string, error: OAuthError): void {
    if (loggedPermanent.has(locationId)) return;
    loggedPermanent.add(locationId);
    logger?.error({ locationId, error: error.toJSON() }, 'GHL token refresh refused (permanent)');
  }

  // ---- company pair ----

  async function companyToken(companyId: string): Promise<{ token: string; version: string }> {
    const state = await store.readCompanyState(companyId);
    if (state.reauth) throw new ReauthRequiredError(state.reauth.reason, { companyId });
    if (state.entry === undefined) {
      throw new MissingCredentialsError(
        `No GHL company install is stored for company ${companyId}`,
        undefined,
      );
    }
    const { record, version } = state.entry;
    if (record.expiresAt - now() >= refreshMarginMs) return { token: record.accessToken, version };
    return { token: await renewCompany(companyId, version), version: '' };
  }

  function renewCompany(companyId: string, seenVersion: string): Promise<string> {
    const renewedElsewhere = async (): Promise<string | undefined> => {
      const state = await store.readCompanyState(companyId);
      if (state.reauth) throw new ReauthRequiredError(state.reauth.reason, { companyId });
      if (state.entry === undefined) {
        throw new MissingCredentialsError(`The GHL company install of ${companyId} was removed`, undefined);
      }
      return state.entry.version !== seenVersion ? state.entry.record.accessToken : undefined;
    };
    return singleFlight(`company:${companyId}`, () =>
      acrossProcesses(lockKey.company(companyId), `company ${companyId}`, renewedElsewhere, async () => {
        // Someone may have finished a refresh between our read and taking the lock.
        const state = await store.readCompanyState(companyId);
        if (state.reauth) throw new ReauthRequiredError(state.reauth.reason, { companyId });
        const entry = state.entry;
        if (entry === undefined) {
          throw new MissingCredentialsError(`The GHL company install of ${companyId} was removed`, undefined);
        }
        if (entry.version !== seenVersion) return entry.record.accessToken;
        let tokens;
        try {
          tokens = await requireOAuth().refresh(entry.record.refreshToken, 'Company');
        } catch (error) {
          if (!(error instanceof ReauthRequiredError)) throw error;
          const again = await store.readCompany(companyId);
          if (again !== undefined && again.version !== entry.version) return again.record.accessToken;
          if (await store.markCompanyNeedsReauth(companyId, error.reason)) {
            logger?.error({ companyId, reason: error.reason }, 'GHL company install needs reconnection');
          }
          throw new ReauthRequiredError(error.reason, { companyId });
        }
        const next: CompanyCredentials = {
          ...entry.record,
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          expiresAt: tokens.expiresAt,
          // A refresh answer lists the approved locations again; keep the stored list when it does not.
          approvedLocations:
            tokens.approvedLocations.length > 0 ? tokens.approvedLocations : entry.record.approvedLocations,
          ...(tokens.scope !== undefined && { scope: tokens.scope }),
        };
        if (await store.compareAndSwap(entry, next)) {
          logger?.info({ companyId, expiresAt: next.expiresAt }, 'GHL company token refreshed');
        } else {
          logger?.warn(
            { companyId },
            'GHL company install changed during the refresh; the refreshed pair was not stored',
          );
        }
        return next.accessToken;
      }),
    );
  }

  async function mintWithCompany(companyId: string, locationId: string): Promise<MintedLocationToken> {
    const client = requireOAuth();
    const company = await companyToken(companyId);
    try {
      return await client.mintLocationToken(company.token, companyId, locationId);
    } catch (error) {
      // The company token was refused before its expiry (revoked, rotated elsewhere): refresh it once.
      if (!(error instanceof OAuthError) || error.status !== 401 || company.version === '') throw error;
      const renewed = await renewCompany(companyId, company.version);
      return await client.mintLocationToken(renewed, companyId, locationId);
    }
  }

  // ---- location ----

  function renewLocation(locationId: string, seenVersion: string | undefined): Promise<string> {
    const renewedElsewhere = async (): Promise<string | undefined> => {
      const state = await store.readLocationState(locationId);
      if (state.reauth) throw new ReauthRequiredError(state.reauth.reason, { locationId });
      if (state.entry === undefined) {
        if (seenVersion !== undefined) {
          throw new MissingCredentialsError(
            `The GHL credentials of location ${locationId} were removed`,
            locationId,
          );
        }
        return undefined;
      }
      return state.entry.version !== seenVersion ? accessTokenOf(state.entry.record) : undefined;
    };
    return singleFlight(`location:${locationId}`, () =>
      acrossProcesses(lockKey.location(locationId), locationId, renewedElsewhere, async () => {
        // Someone may have finished a refresh between our read and taking the lock.
        const state = await store.readLocationState(locationId);
        if (state.reauth) throw new ReauthRequiredError(state.reauth.reason, { locationId });
        const entry = state.entry;
        if (entry !== undefined && entry.version !== seenVersion) return accessTokenOf(entry.record);
        if (entry === undefined && seenVersion !== undefined) {
          throw new MissingCredentialsError(
            `The GHL credentials of location ${locationId} were removed`,
            locationId,
          );
        }
        try {
          return await renewLocationHoldingLock(locationId, entry);
        } catch (error) {
          if (error instanceof ReauthRequiredError) {
            // Only if nobody stored a new pair meanwhile (a holder whose lock expired mid-request).
            const again = await store.readLocation(locationId);
            if (again !== undefined && again.version !== entry?.version) return accessTokenOf(again.record);
            const companyId =
              error.companyId ??
              (entry?.record.kind === 'company-minted' ? entry.record.companyId : undefined);
            await markLocation(locationId, error.reason, companyId);
            throw new ReauthRequiredError(error.reason, { locationId, companyId });
          }
          if (error instanceof OAuthError && !error.retryable) logPermanent(locationId, error);
          throw error;
        }
      }),
    );
  }

  async function renewLocationHoldingLock(
    locationId: string,
    entry: Versioned<LocationCredentials> | undefined,
  ): Promise<string> {
    const record = entry?.record;
    if (record?.kind === 'pit') return record.token;
    if (record?.kind === 'oauth') {
      const tokens = await requireOAuth().refresh(record.refreshToken, 'Location');
      const next: OAuthLocationCredentials = {
        ...record,
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        expiresAt: tokens.expiresAt,
        ...(tokens.scope !== undefined && { scope: tokens.scope }),
      };
      // Persisted before it is used: the old refresh token is spent from this moment on.
      if (await store.compareAndSwap(entry as Versioned<OAuthLocationCredentials>, next)) {
        logger?.info({ locationId, expiresAt: next.expiresAt }, 'GHL location token refreshed');
      } else {
        logger?.warn(
          { locationId },
          'GHL location credentials changed during the refresh; the refreshed pair was not stored',
        );
      }
      return next.accessToken;
    }
    const companyId =
      record?.kind === 'company-minted' ? record.companyId : await store.approvingCompany(locationId);
    if (companyId === undefined) {
      throw new MissingCredentialsError(
        `No GHL credentials are stored for location ${locationId}`,
        locationId,
      );
    }
    const minted = await mintWithCompany(companyId, locationId);
    const next: CompanyMintedCredentials = {
      kind: 'company-minted',
      locationId,
      companyId,
      accessToken: minted.accessToken,
      expiresAt: minted.expiresAt,
    };
    if (await store.compareAndSwap(entry ?? null, next)) {
      logger?.info(
        { locationId, companyId, expiresAt: next.expiresAt },
        'GHL location token minted from the company install',
      );
    } else {
      logger?.warn(
        { locationId, companyId },
        'GHL location credentials changed while minting; the minted token was not stored',
      );
    }
    return next.accessToken;
  }

  function validLocationId(locationId: string | undefined): locationId is string {
    return locationId !== undefined && GhlId.safeParse(locationId).success;
  }

  return {
    async getToken(locationId) {
      if (!validLocationId(locationId)) {
        throw new MissingCredentialsError(
          locationId === undefined
            ? 'Credentials are stored per location: the call must name its location'
            : 'The locationId is not a valid GHL id',
          locationId,
        );
      }
      const state = await store.readLocationState(locationId);
      if (state.reauth) throw new ReauthRequiredError(state.reauth.reason, { locationId });
      const entry = state.entry;
      if (entry === undefined) {
        if ((await store.approvingCompany(locationId)) === undefined) {
          throw new MissingCredentialsError(
            `No GHL credentials are stored for location ${locationId}`,
            locationId,
          );
        }
        return renewLocation(locationId, undefined);
      }
      const record = entry.record;
      if (record.kind === 'pit') return record.token;
      if (record.expiresAt - now() >= refreshMarginMs) return record.accessToken;
      return renewLocation(locationId, entry.version);
    },

    async onUnauthorized(locationId, rejectedToken, error) {
      if (!validLocationId(locationId) || refreshCannotHelp(error)) return false;
      const state = await store.readLocationState(locationId);
      if (state.reauth) return false;
      const entry = state.entry;
      // A PIT never refreshes (docs/ghl-api.md §3): its 401 is final.
      if (entry?.record.kind === 'pit') return false;
      // Another process (or job) already replaced the token GHL refused: just retry with the stored one.
      if (entry !== undefined && accessTokenOf(entry.record) !== rejectedToken) return true;
      if (entry === undefined && (await store.approvingCompany(locationId)) === undefined) return false;
      try {
        await renewLocation(locationId, entry?.version);
        return true;
      } catch (renewError) {
        if (renewError instanceof ReauthRequiredError) return false;
        throw renewError;
      }
    },
  };
}
