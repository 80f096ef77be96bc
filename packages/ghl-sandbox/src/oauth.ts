import { randomBytes, randomUUID } from 'node:crypto';
import type { OAuthRevoke, SandboxOAuthSeed } from './schemas.js';

type UserType = 'Location' | 'Company';
type SeededCode = NonNullable<SandboxOAuthSeed['codes']>[number];

interface OAuthApp {
  clientId: string;
  clientSecret: string;
  redirectUri?: string;
  scope?: string;
}

/** One install of one app on one location or company: what a refresh token chain belongs to. */
interface Grant {
  id: string;
  clientId: string;
  userType: UserType;
  locationId?: string;
  companyId?: string;
  approvedLocations: Set<string>;
  userId: string;
  isBulkInstallation: boolean;
  scope: string;
  /** The one refresh token that works now; each refresh replaces it (rotation). */
  refreshToken: string | undefined;
}

interface AccessToken {
  grantId: string;
  userType: UserType;
  locationId?: string;
  companyId?: string;
  expiresAt: number;
}

/** Who a bearer token acts for. */
export type TokenSubject = { kind: 'location'; locationId: string } | { kind: 'company'; companyId: string };

/** A refusal, with the status and body the route answers. */
export interface OAuthRefusal {
  ok: false;
  status: number;
  body: Record<string, unknown>;
}

export type OAuthResult<T> = ({ ok: true } & T) | OAuthRefusal;

// Sub-account scopes closeloop's routes need (docs/ghl-api.md §1.2–§1.5), and the agency ones that
// `POST /oauth/locationToken` and `GET /oauth/installedLocations` require (apps/oauth.json).
const DEFAULT_LOCATION_SCOPE = 'contacts.readonly contacts.write locations/tasks.readonly';
const DEFAULT_COMPANY_SCOPE = `${DEFAULT_LOCATION_SCOPE} oauth.readonly oauth.write`;

/**
 * RFC 6749 §5.2 answers a bad, spent or revoked grant with 400 `{"error":"invalid_grant"}`. GHL's own
 * wording is not published (highlevel-api-docs#249 asks for the list), so the body carries both the
 * OAuth fields and GHL's `{statusCode, message}` (BadRequestDTO): a client can read either
 * (docs/ghl-api.md §3.1).
 */
export function invalidGrant(description: string): OAuthRefusal {
  return {
    ok: false,
    status: 400,
    body: { statusCode: 400, message: description, error: 'invalid_grant', error_description: description },
  };
}

function oauthError(status: number, error: string, description: string): OAuthRefusal {
  return {
    ok: false,
    status,
    body: { statusCode: status, message: description, error, error_description: description },
  };
}

/** Fields that hold a secret in OAuth requests and answers (RFC 6749 names, and GHL's camelCase v3 ones). */
const SECRET_FIELDS = new Set([
  'client_secret',
  'code',
  'refresh_token',
  'access_token',
  'clientSecret',
  'refreshToken',
  'accessToken',
]);

/** A copy of an object with every secret field as '[redacted]'; anything else is returned as is. */
export function redactSecrets(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const copy: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    copy[name] = SECRET_FIELDS.has(name) ? '[redacted]' : field;
  }
  return copy;
}

function opaqueToken(kind: 'at' | 'rt'): string {
  // Opaque, unguessable strings: GHL's are JWTs, but a client must not read them (docs/ghl-api.md §3.1).
  return `sbx-${kind}-${randomBytes(24).toString('base64url')}`;
}

/**
 * The sandbox's OAuth server: marketplace apps, install codes (single-use), grants with rotating
 * single-use refresh tokens, expiring access tokens, and location tokens minted from a Company token.
 * All lookups are Map gets; expired access tokens are dropped when next presented.
 */
export class OAuthStore {
  readonly #apps = new Map<string, OAuthApp>();
  readonly #codes = new Map<string, SeededCode>();
  readonly #grants = new Map<string, Grant>();
  /** Refresh token → grant id; only each grant's current token is here. */
  readonly #refreshTokens = new Map<string, string>();
  readonly #accessTokens = new Map<string, AccessToken>();
  /** Grant id → its access tokens (also the location tokens minted from a Company grant). */
  readonly #tokensOfGrant = new Map<string, Set<string>>();

  constructor(
    readonly accessTokenTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Additive; an app or code with an existing id replaces it (a code seeded again can be used again). */
  seed(seed: SandboxOAuthSeed): void {
    for (const app of seed.apps ?? []) this.#apps.set(app.clientId, { ...app });
    for (const code of seed.codes ?? []) this.#codes.set(code.code, { ...code });
  }

  /** Whether the client credentials are a seeded app's. */
  authenticateClient(clientId: string, clientSecret: string): OAuthResult<{ app: OAuthApp }> {
    const app = this.#apps.get(clientId);
    if (!app || app.clientSecret !== clientSecret) {
      return oauthError(401, 'invalid_client', 'Invalid client credentials');
    }
    return { ok: true, app };
  }

  /** `grant_type=authorization_code`: the code is spent whatever the outcome past this point. */
  exchangeCode(
    app: OAuthApp,
    code: string,
    redirectUri: string | undefined,
  ): OAuthResult<{ response: Record<string, unknown> }> {
    const seeded = this.#codes.get(code);
    if (!seeded) return invalidGrant('Invalid grant: authorization code is invalid');
    if (seeded.clientId !== undefined && seeded.clientId !== app.clientId) {
      return invalidGrant('Invalid grant: authorization code was issued to another client');
    }
    // RFC 6749 §4.1.3: a redirect_uri sent with the exchange must be the registered one.
    if (redirectUri !== undefined && app.redirectUri !== undefined && redirectUri !== app.redirectUri) {
      return invalidGrant('Invalid grant: redirect_uri does not match');
    }
    this.#codes.delete(code);
    const grant: Grant = {
      id: randomUUID(),
      clientId: app.clientId,
      userType: seeded.userType,
      ...(seeded.locationId !== undefined && { locationId: seeded.locationId }),
      ...(seeded.companyId !== undefined && { companyId: seeded.companyId }),
      approvedLocations: new Set(seeded.approvedLocations ?? []),
      userId: seeded.userId ?? 'sandboxUser000000001',
      isBulkInstallation: seeded.isBulkInstallation ?? false,
      scope: app.scope ?? (seeded.userType === 'Company' ? DEFAULT_COMPANY_SCOPE : DEFAULT_LOCATION_SCOPE),
      refreshToken: undefined,
    };
    this.#grants.set(grant.id, grant);
    return { ok: true, response: this.#issue(grant) };
  }

  /** `grant_type=refresh_token`: rotation — the presented token is spent, a new one is returned. */
  refresh(app: OAuthApp, refreshToken: string): OAuthResult<{ response: Record<string, unknown> }> {
    const grantId = this.#refreshTokens.get(refreshToken);
    const grant = grantId === undefined ? undefined : this.#grants.get(grantId);
    if (!grant || grant.refreshToken !== refreshToken) {
      return invalidGrant('Invalid grant: refresh token is invalid');
    }
    if (grant.clientId !== app.clientId) {
      return invalidGrant('Invalid grant: refresh token was issued to another client');
    }
    this.#refreshTokens.delete(refreshToken);
    return { ok: true, response: this.#issue(grant) };
  }

  /** `POST /oauth/locationToken`: a location token (no refresh token) from a Company access token. */
  mintLocationToken(
    companyToken: string,
    companyId: string,
    locationId: string,
  ): OAuthResult<{ response: Record<string, unknown> }> {
    // The route has already answered 401 "Invalid JWT" to an unknown or expired token.
    const access = this.subjectOf(companyToken) ? this.#accessTokens.get(companyToken) : undefined;
    const grant = access === undefined ? undefined : this.#grants.get(access.grantId);
    if (!access || !grant || access.userType !== 'Company') {
      return oauthError(401, 'Unauthorized', 'The token is not authorized for this scope.');
    }
    if (grant.companyId !== companyId) {
      return {
        ok: false,
        status: 400,
        body: { statusCode: 400, message: 'companyId does not match the token' },
      };
    }
    if (!grant.approvedLocations.has(locationId)) {
      return {
        ok: false,
        status: 400,
        body: { statusCode: 400, message: 'The app is not installed on this location' },
      };
    }
    const token = this.#addAccessToken(grant.id, { userType: 'Location', locationId, companyId });
    return {
      ok: true,
      response: {
        access_token: token,
        token_type: 'Bearer',
        expires_in: this.accessTokenTtlMs / 1000,
        scope: grant.scope.replace(/\s*\boauth\.(readonly|write)\b/g, '').trim(),
        locationId,
        userId: grant.userId,
        appId: grant.clientId.split('-')[0] ?? grant.clientId,
      },
    };
  }

  /** Who a live OAuth access token acts for; undefined for an unknown or expired one. */
  subjectOf(token: string): TokenSubject | undefined {
    const access = this.#accessTokens.get(token);
    if (!access) return undefined;
    if (this.now() >= access.expiresAt) {
      this.#accessTokens.delete(token);
      this.#tokensOfGrant.get(access.grantId)?.delete(token);
      return undefined;
    }
    if (access.userType === 'Location' && access.locationId !== undefined) {
      return { kind: 'location', locationId: access.locationId };
    }
    if (access.companyId !== undefined) return { kind: 'company', companyId: access.companyId };
    return undefined;
  }

  /**
   * Uninstalls: every matching grant loses its refresh token and access tokens (the next refresh is
   * invalid_grant, the next call 401). A location removed from a Company install is no longer
   * approved there, and the location tokens minted for it stop working. Returns the grants touched.
   */
  revoke(revoke: OAuthRevoke): number {
    let touched = 0;
    for (const grant of [...this.#grants.values()]) {
      if (revoke.clientId !== undefined && grant.clientId !== revoke.clientId) continue;
      const whole =
        (revoke.locationId !== undefined &&
          grant.userType === 'Location' &&
          grant.locationId === revoke.locationId) ||
        (revoke.companyId !== undefined &&
          grant.userType === 'Company' &&
          grant.companyId === revoke.companyId);
      if (whole) {
        this.#dropGrant(grant);
        touched += 1;
        continue;
      }
      if (
        revoke.locationId !== undefined &&
        grant.userType === 'Company' &&
        grant.approvedLocations.has(revoke.locationId)
      ) {
        grant.approvedLocations.delete(revoke.locationId);
        for (const token of [...(this.#tokensOfGrant.get(grant.id) ?? [])]) {
          if (this.#accessTokens.get(token)?.locationId === revoke.locationId) this.#forget(grant.id, token);
        }
        touched += 1;
      }
    }
    return touched;
  }

  clear(): void {
    this.#apps.clear();
    this.#codes.clear();
    this.#grants.clear();
    this.#refreshTokens.clear();
    this.#accessTokens.clear();
    this.#tokensOfGrant.clear();
  }

  #issue(grant: Grant): Record<string, unknown> {
    const refreshToken = opaqueToken('rt');
    grant.refreshToken = refreshToken;
    this.#refreshTokens.set(refreshToken, grant.id);
    const accessToken = this.#addAccessToken(grant.id, {
      userType: grant.userType,
      ...(grant.locationId !== undefined && { locationId: grant.locationId }),
      ...(grant.companyId !== undefined && { companyId: grant.companyId }),
    });
    // GetAccessCodeSuccessfulResponseDto (apps/oauth.json).
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.accessTokenTtlMs / 1000,
      refresh_token: refreshToken,
      scope: grant.scope,
      userType: grant.userType,
      ...(grant.companyId !== undefined && { companyId: grant.companyId }),
      ...(grant.userType === 'Location' &&
        grant.locationId !== undefined && { locationId: grant.locationId }),
      ...(grant.userType === 'Company' && { approvedLocations: [...grant.approvedLocations] }),
      userId: grant.userId,
      isBulkInstallation: grant.isBulkInstallation,
    };
  }

  #addAccessToken(grantId: string, subject: Omit<AccessToken, 'grantId' | 'expiresAt'>): string {
    const token = opaqueToken('at');
    this.#accessTokens.set(token, { grantId, ...subject, expiresAt: this.now() + this.accessTokenTtlMs });
    let tokens = this.#tokensOfGrant.get(grantId);
    if (!tokens) {
      tokens = new Set();
      this.#tokensOfGrant.set(grantId, tokens);
    }
    tokens.add(token);
    return token;
  }

  #forget(grantId: string, token: string): void {
    this.#accessTokens.delete(token);
    this.#tokensOfGrant.get(grantId)?.delete(token);
  }

  #dropGrant(grant: Grant): void {
    if (grant.refreshToken !== undefined) this.#refreshTokens.delete(grant.refreshToken);
    for (const token of this.#tokensOfGrant.get(grant.id) ?? []) this.#accessTokens.delete(token);
    this.#tokensOfGrant.delete(grant.id);
    this.#grants.delete(grant.id);
  }
}
