export { CredentialsKey, CredentialsKeyEnv, CredentialsKeyError, CredentialsDecryptError } from './key.js';
export {
  CredentialsBusyError,
  OAuthError,
  ReauthRequiredError,
  isReauthRequiredError,
  type OAuthOperation,
} from './errors.js';
export {
  CompanyCredentials,
  CompanyMintedCredentials,
  GhlId,
  LocationCredentials,
  OAuthLocationCredentials,
  PitCredentials,
  accessTokenOf,
} from './records.js';
export {
  createCredentialStore,
  type CompanyState,
  type CompanySummary,
  type CreateCredentialStoreOptions,
  type CredentialStore,
  type LocationState,
  type LocationSummary,
  type ReauthMark,
  type Versioned,
} from './store.js';
export {
  createOAuthClient,
  DEFAULT_OAUTH_BASE_URL,
  DEFAULT_OAUTH_TIMEOUT_MS,
  OAUTH_API_VERSION,
  type CreateOAuthClientOptions,
  type MintedLocationToken,
  type OAuthClient,
  type OAuthTokens,
  type OAuthUserType,
} from './oauth-client.js';
export { installRecordFromTokens, saveInstall, type InstallRecord } from './install.js';
export {
  createStoreCredentialsProvider,
  DEFAULT_REFRESH_MARGIN_MS,
  type CredentialsLogger,
  type StoreCredentialsProviderOptions,
} from './provider.js';
