import got, { RequestError, TimeoutError, type Response } from 'got';
import { z } from 'zod';
import { OAuthError, ReauthRequiredError, type OAuthOperation } from './errors.js';

export const DEFAULT_OAUTH_BASE_URL = 'https://services.leadconnectorhq.com';
export const DEFAULT_OAUTH_TIMEOUT_MS = 15_000;
/**
 * contracts/ghl-openapi/apps/oauth.json declares `Version` (required, `enum: ["2021-07-28"]`) on
 * POST /oauth/locationToken only; POST /oauth/token declares no header and no security.
 */
export const OAUTH_API_VERSION = '2021-07-28';

export type OAuthUserType = 'Location' | 'Company';

/**
 * GetAccessCodeSuccessfulResponseDto (oauth.json). The spec requires only `userId`; what closeloop
 * needs (`access_token`, `expires_in`) is required here, the rest optional. Loose: fields GHL adds
 * later must not break an install.
 */
const TokenResponseBody = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
  userType: z.string().optional(),
  locationId: z.string().optional(),
  companyId: z.string().optional(),
  approvedLocations: z.array(z.string()).optional(),
  userId: z.string().optional(),
  planId: z.string().optional(),
  isBulkInstallation: z.boolean().optional(),
});

/** GetLocationAccessTokenSuccessfulResponseDto (oauth.json); no refresh token in the v2 spec. */
const LocationTokenResponseBody = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  expires_in: z.number().positive(),
  scope: z.string().optional(),
  locationId: z.string().optional(),
  userId: z.string().optional(),
});

/** An error answer: RFC 6749 §5.2 (`error`, `error_description`) or GHL's `{statusCode, message, error}`. */
const ErrorBody = z.looseObject({
  error: z.string().optional().catch(undefined),
  error_description: z.string().optional().catch(undefined),
  message: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .catch(undefined),
});

export interface OAuthTokens {
  accessToken: string;
  /** Always present for exchangeCode and refresh (a refresh without one is refused as a bad answer). */
  refreshToken: string;
  /** Epoch ms: when the request was sent + expires_in, so it errs early. */
  expiresAt: number;
  scope: string | undefined;
  userType: OAuthUserType;
  locationId: string | undefined;
  companyId: string | undefined;
  approvedLocations: string[];
  userId: string | undefined;
}

export interface MintedLocationToken {
  accessToken: string;
  expiresAt: number;
  locationId: string;
  scope: string | undefined;
}

export interface OAuthClient {
  readonly timeoutMs: number;
  /** `grant_type=authorization_code` for the `?code=` GHL sends to the redirect URI after an install. */
  exchangeCode(code: string, userType?: OAuthUserType): Promise<OAuthTokens>;
  /** `grant_type=refresh_token`. The refresh token is spent by this call, whatever happens next. */
  refresh(refreshToken: string, userType: OAuthUserType): Promise<OAuthTokens>;
  /** POST /oauth/locationToken with a Company token. */
  mintLocationToken(
    companyAccessToken: string,
    companyId: string,
    locationId: string,
  ): Promise<MintedLocationToken>;
}

export interface CreateOAuthClientOptions {
  /** Default https://services.leadconnectorhq.com. */
  baseUrl?: string;
  clientId: string;
  clientSecret: string;
  /** Sent with exchangeCode; must equal the one in the authorize URL. */
  redirectUri?: string;
  timeoutMs?: number;
  /** For tests; epoch ms. */
  now?: () => number;
}

const REAUTH_ERRORS: ReadonlySet<string> = new Set(['invalid_grant']);

export function createOAuthClient(options: CreateOAuthClientOptions): OAuthClient {
  const baseUrl = options.baseUrl ?? DEFAULT_OAUTH_BASE_URL;
  const parsedBase = new URL(baseUrl);
  if (parsedBase.protocol !== 'http:' && parsedBase.protocol !== 'https:') {
    throw new TypeError(`OAuth base URL must be http(s), got ${parsedBase.protocol}`);
  }
  if (options.clientId.trim() === '' || options.clientSecret.trim() === '') {
    throw new TypeError('createOAuthClient: clientId and clientSecret are required');
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_OAUTH_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new TypeError('timeoutMs must be a positive number');
  const now = options.now ?? Date.now;

  const http = got.extend({
    prefixUrl: baseUrl,
    headers: { accept: 'application/json', 'user-agent': 'closeloop-ghl' },
    timeout: { request: timeoutMs },
    // Never retried here: a refresh token is single-use (docs/ghl-api.md §3), so resending a refresh
    // whose answer was lost would only come back invalid_grant; the caller decides.
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: 'text',
  });

  async function post(
    operation: OAuthOperation,
    path: string,
    form: Record<string, string>,
    secrets: readonly string[],
    headers: Record<string, string> = {},
  ): Promise<unknown> {
    const label = `GHL POST /${path}`;
    let response: Response<string>;
    try {
      // `form` makes got send application/x-www-form-urlencoded, which oauth.json declares for both routes.
      response = await http.post(path, { form, headers });
    } catch (error) {
      if (error instanceof RequestError) {
        // got's error holds the request options (the form, the Authorization header): only its class and code.
        const kind =
          error instanceof TimeoutError ? `timed out after ${timeoutMs} ms` : `failed (${error.code})`;
        throw new OAuthError({ operation, message: `${label} ${kind}`, retryable: true });
      }
      throw error;
    }
    const status = response.statusCode;
    let json: unknown;
    try {
      json = JSON.parse(response.body);
    } catch {
      json = undefined;
    }
    if (status >= 200 && status <= 299) {
      if (json === undefined) {
        throw new OAuthError({
          operation,
          message: `${label} answered ${status} with a body that is not JSON`,
          retryable: false,
          status,
        });
      }
      return json;
    }
    const body = ErrorBody.safeParse(json);
    const parsed = body.success ? body.data : {};
    const messages =
      parsed.message === undefined
        ? []
        : typeof parsed.message === 'string'
          ? [parsed.message]
          : parsed.message;
    const oauthError = parsed.error;
    const detail = redact(
      [oauthError, parsed.error_description, ...messages].filter(Boolean).join(': '),
      secrets,
    );
    const reason = `${label} answered ${status}${detail === '' ? '' : ` ${detail}`}`;
    // RFC 6749 §5.2: invalid_grant = the grant (code or refresh token) is invalid, expired, revoked or
    // spent; GHL's rotating refresh tokens come back this way once used (docs/ghl-api.md §3).
    if (status >= 400 && status < 500 && oauthError !== undefined && REAUTH_ERRORS.has(oauthError)) {
      throw new ReauthRequiredError(reason);
    }
    const retryable = status >= 500 || status === 408 || status === 429;
    throw new OAuthError({ operation, message: reason, retryable, status, oauthError });
  }

  function parse<S extends z.ZodType>(
    schema: S,
    json: unknown,
    operation: OAuthOperation,
    path: string,
  ): z.infer<S> {
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((issue) => issue.path.join('.') || '(root)').join(', ');
      throw new OAuthError({
        operation,
        message: `GHL POST /${path} answered 200 without the expected fields (${fields})`,
        retryable: false,
        status: 200,
      });
    }
    return parsed.data;
  }

  async function token(
    operation: 'exchangeCode' | 'refresh',
    form: Record<string, string>,
    secrets: string[],
    userType: OAuthUserType,
  ): Promise<OAuthTokens> {
    const sentAt = now();
    const body = parse(
      TokenResponseBody,
      await post(operation, 'oauth/token', form, secrets),
      operation,
      'oauth/token',
    );
    if (body.refresh_token === undefined) {
      throw new OAuthError({
        operation,
        message: 'GHL POST /oauth/token answered 200 without a refresh_token',
        retryable: false,
        status: 200,
      });
    }
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresAt: sentAt + body.expires_in * 1000,
      scope: body.scope,
      userType: body.userType === 'Company' || body.userType === 'Location' ? body.userType : userType,
      locationId: body.locationId,
      companyId: body.companyId,
      approvedLocations: body.approvedLocations ?? [],
      userId: body.userId,
    };
  }

  const base = { client_id: options.clientId, client_secret: options.clientSecret };

  return {
    timeoutMs,

    exchangeCode(code, userType) {
      const form: Record<string, string> = { ...base, grant_type: 'authorization_code', code };
      if (userType !== undefined) form.user_type = userType;
      if (options.redirectUri !== undefined) form.redirect_uri = options.redirectUri;
      return token('exchangeCode', form, [options.clientSecret, code], userType ?? 'Location');
    },

    refresh(refreshToken, userType) {
      const form = { ...base, grant_type: 'refresh_token', refresh_token: refreshToken, user_type: userType };
      return token('refresh', form, [options.clientSecret, refreshToken], userType);
    },

    async mintLocationToken(companyAccessToken, companyId, locationId) {
      const sentAt = now();
      const json = await post(
        'mintLocationToken',
        'oauth/locationToken',
        { companyId, locationId },
        [companyAccessToken],
        // oauth.json: security Agency-Access-Only [oauth.write], header Version required.
        { authorization: `Bearer ${companyAccessToken}`, version: OAUTH_API_VERSION },
      );
      const body = parse(LocationTokenResponseBody, json, 'mintLocationToken', 'oauth/locationToken');
      return {
        accessToken: body.access_token,
        expiresAt: sentAt + body.expires_in * 1000,
        locationId: body.locationId ?? locationId,
        scope: body.scope,
      };
    },
  };
}

function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== '') result = result.split(secret).join('[redacted]');
  }
  return result;
}
