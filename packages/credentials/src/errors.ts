/**
 * The location (or the company that mints its tokens) must be reconnected: GHL refused the refresh
 * with `invalid_grant` (the refresh token was spent or revoked, or the app was uninstalled —
 * RFC 6749 §5.2, docs/ghl-api.md §3), or an earlier refusal marked it so. Retrying cannot help until
 * someone installs the app again; the worker parks the location's jobs (GHL_REAUTH_REQUIRED).
 *
 * Deliberately not a MissingCredentialsError: packages/ghl turns that into GhlError NO_CREDENTIALS,
 * a dead letter, while this one must pass through the client unchanged (client.ts `tokenFor`).
 */
export class ReauthRequiredError extends Error {
  readonly code = 'GHL_REAUTH_REQUIRED';
  readonly locationId: string | undefined;
  readonly companyId: string | undefined;
  /** GHL's reason, e.g. "invalid_grant: …"; never a token. */
  readonly reason: string;

  constructor(reason: string, ids: { locationId?: string | undefined; companyId?: string | undefined } = {}) {
    const subject =
      ids.locationId !== undefined
        ? `Location ${ids.locationId}`
        : ids.companyId !== undefined
          ? `Company ${ids.companyId}`
          : 'The grant';
    super(`${subject} must be reconnected (install the app again): ${reason}`);
    this.locationId = ids.locationId;
    this.companyId = ids.companyId;
    this.reason = reason;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      locationId: this.locationId,
      companyId: this.companyId,
    };
  }
}
Object.defineProperty(ReauthRequiredError.prototype, 'name', { value: 'ReauthRequiredError' });

export function isReauthRequiredError(error: unknown): error is ReauthRequiredError {
  return error instanceof ReauthRequiredError;
}

export type OAuthOperation = 'exchangeCode' | 'refresh' | 'mintLocationToken';

/**
 * Any other failure of GHL's OAuth endpoints. `retryable`: 5xx, 408, 429, timeouts and network
 * failures (the same request can succeed later); every other 4xx (`invalid_client`, a wrong
 * redirect URI, a location the company did not approve) is permanent. Like GhlError it never holds
 * got's error, the request options or the form: client secret, code and tokens cannot leak.
 */
export class OAuthError extends Error {
  readonly operation: OAuthOperation;
  readonly retryable: boolean;
  readonly status: number | undefined;
  /** The OAuth `error` code (RFC 6749 §5.2) or GHL's `error` field, when the answer had one. */
  readonly oauthError: string | undefined;

  constructor(init: {
    operation: OAuthOperation;
    message: string;
    retryable: boolean;
    status?: number | undefined;
    oauthError?: string | undefined;
  }) {
    super(init.message);
    this.operation = init.operation;
    this.retryable = init.retryable;
    this.status = init.status;
    this.oauthError = init.oauthError;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      operation: this.operation,
      retryable: this.retryable,
      status: this.status,
      oauthError: this.oauthError,
    };
  }
}
Object.defineProperty(OAuthError.prototype, 'name', { value: 'OAuthError' });

/**
 * Another process has held the refresh lock of a location for longer than `lockTtlMs` without a new
 * pair appearing: transient (the lock expires), so retry the job later.
 */
export class CredentialsBusyError extends Error {
  readonly retryable = true;
  readonly locationId: string;

  constructor(locationId: string, waitedMs: number) {
    super(
      `Location ${locationId}: another process is refreshing its token; no new token after ${waitedMs} ms`,
    );
    this.locationId = locationId;
  }
}
Object.defineProperty(CredentialsBusyError.prototype, 'name', { value: 'CredentialsBusyError' });
