import type { OAuthTokens } from './oauth-client.js';
import type { CompanyCredentials, OAuthLocationCredentials } from './records.js';
import type { CredentialStore } from './store.js';

export type InstallRecord =
  | { userType: 'Location'; record: OAuthLocationCredentials }
  | { userType: 'Company'; record: CompanyCredentials };

/**
 * What an install's code exchange (GET /oauth/callback → POST /oauth/token) stores: a Location install
 * its own pair; a Company (agency) install the company pair and its approvedLocations, whose location
 * tokens are minted on demand (`POST /oauth/locationToken`). oauth.json: `locationId` is "present only
 * for Sub-Account Access Token", so a Location answer without one is refused.
 */
export function installRecordFromTokens(tokens: OAuthTokens): InstallRecord {
  if (tokens.userType === 'Company') {
    if (tokens.companyId === undefined) throw new TypeError('A Company token answer carries no companyId');
    return {
      userType: 'Company',
      record: {
        companyId: tokens.companyId,
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        expiresAt: tokens.expiresAt,
        approvedLocations: tokens.approvedLocations,
        ...(tokens.scope !== undefined && { scope: tokens.scope }),
      },
    };
  }
  if (tokens.locationId === undefined) throw new TypeError('A Location token answer carries no locationId');
  return {
    userType: 'Location',
    record: {
      kind: 'oauth',
      locationId: tokens.locationId,
      userType: 'Location',
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      expiresAt: tokens.expiresAt,
      ...(tokens.scope !== undefined && { scope: tokens.scope }),
    },
  };
}

/** Stores an install (see installRecordFromTokens); returns what was stored, for the callback's answer and log. */
export async function saveInstall(
  store: CredentialStore,
  tokens: OAuthTokens,
): Promise<
  | { userType: 'Location'; locationId: string }
  | { userType: 'Company'; companyId: string; approvedLocations: string[] }
> {
  const install = installRecordFromTokens(tokens);
  if (install.userType === 'Company') {
    await store.putCompany(install.record);
    return {
      userType: 'Company',
      companyId: install.record.companyId,
      approvedLocations: install.record.approvedLocations,
    };
  }
  await store.putLocation(install.record);
  return { userType: 'Location', locationId: install.record.locationId };
}
