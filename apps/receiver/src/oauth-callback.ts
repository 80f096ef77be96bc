import {
  OAuthError,
  ReauthRequiredError,
  createCredentialStore,
  createOAuthClient,
  saveInstall,
  type OAuthTokens,
} from '@closeloop/credentials';
import type { Request, RequestHandler, Response } from 'express';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { OAuthCallbackConfig } from './config.js';
import { ReceiverError } from './errors.js';
import { getRequestContext } from './request-context.js';

/**
 * How long the exchange may take. A person's browser waits on this page, and GHL's token endpoint
 * answers in well under a second; past this the page says to reload (the code may still be unspent).
 */
export const OAUTH_EXCHANGE_TIMEOUT_MS = 10_000;

/** An authorization code is an opaque token; a longer or odd one is not GHL's (and is not sent on). */
const CODE = /^[\x21-\x7e]{1,4096}$/;

/**
 * `GET /oauth/callback?code=…`: GHL sends the person who installed the marketplace app here with a
 * single-use code (docs/ghl-api.md §3.1; https://marketplace.gohighlevel.com/docs/oauth/Authorization).
 * The code is exchanged at `POST /oauth/token` (form-encoded, packages/credentials `exchangeCode`) and
 * the install stored in the encrypted credential store (`saveInstall`: a Location install its pair, a
 * Company install the company pair and its approved locations, minted on demand).
 *
 * The code, the tokens and the client secret are never logged or answered: the access log has the
 * path only (request-context.ts), the OAuth errors carry none of them (packages/credentials errors.ts).
 * `user_type` is not sent: the spec marks it optional, and GHL's answer says which kind the install
 * is (`userType`), which `saveInstall` follows.
 */
export function createOAuthCallback(deps: {
  config: OAuthCallbackConfig | undefined;
  redis: Redis | Cluster;
  prefix: string;
  logger: Logger;
}): RequestHandler {
  const { config, logger } = deps;
  const oauth =
    config &&
    createOAuthClient({
      baseUrl: config.baseUrl,
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      redirectUri: config.redirectUri,
      timeoutMs: OAUTH_EXCHANGE_TIMEOUT_MS,
    });
  const store =
    config && createCredentialStore({ redis: deps.redis, prefix: deps.prefix, key: config.credentialsKey });

  return async (req: Request, res: Response) => {
    if (!oauth || !store) {
      throw new ReceiverError(
        'SOURCE_NOT_CONFIGURED',
        'The OAuth callback is not configured (GHL_CLIENT_ID, GHL_CLIENT_SECRET, GHL_REDIRECT_URI, CREDENTIALS_KEY)',
      );
    }
    const code = codeOf(req);
    const context = getRequestContext(req, logger);
    let tokens: OAuthTokens;
    try {
      tokens = await oauth.exchangeCode(code);
    } catch (error) {
      throw exchangeFailure(error, context.log);
    }
    let installed: Awaited<ReturnType<typeof saveInstall>>;
    try {
      installed = await saveInstall(store, tokens);
    } catch (error) {
      // saveInstall's TypeErrors name fields, never values: an answer without a locationId/companyId.
      if (error instanceof TypeError) {
        context.log.warn({ err: error }, 'oauth install not stored: unusable token answer');
        throw new ReceiverError(
          'OAUTH_EXCHANGE_FAILED',
          `GHL's token answer cannot be stored (${error.message}); install the app again`,
        );
      }
      // The code is spent by now, so reloading cannot help: the install must be repeated.
      throw new ReceiverError(
        'QUEUE_UNAVAILABLE',
        'Redis is unreachable, so the install could not be stored; install the app again shortly',
        { cause: error },
      );
    }
    const connected =
      installed.userType === 'Location'
        ? `location ${installed.locationId}`
        : `company ${installed.companyId} (${installed.approvedLocations.length} location${installed.approvedLocations.length === 1 ? '' : 's'}${installed.approvedLocations.length > 0 ? `: ${installed.approvedLocations.join(', ')}` : ''})`;
    context.fields = {
      install: installed.userType,
      ...(installed.userType === 'Location'
        ? { locationId: installed.locationId }
        : { companyId: installed.companyId, approvedLocations: installed.approvedLocations.length }),
    };
    context.log.info({ ...context.fields, expiresAt: tokens.expiresAt }, 'oauth install stored');
    const text = `closeloop is connected to ${connected}.`;
    res
      .status(200)
      // The URL held a code: no cache keeps the page, no Referer carries the URL on.
      .set({ 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' })
      .type('html')
      .send(
        `<!doctype html>\n<html><head><meta charset="utf-8"><title>closeloop connected</title></head>` +
          `<body><p>${escapeHtml(text)}</p></body></html>\n`,
      );
  };
}

function codeOf(req: Request): string {
  const { code } = req.query;
  if (code === undefined || code === '') {
    throw new ReceiverError(
      'BAD_REQUEST',
      'No ?code= in the request: GHL adds it when it sends you here after an install; open the install link again',
    );
  }
  if (typeof code !== 'string' || !CODE.test(code)) {
    throw new ReceiverError('BAD_REQUEST', '?code= must be given once, as GHL sends it');
  }
  return code;
}

/**
 * invalid_grant (RFC 6749 §5.2: a spent, expired or other app's code; the OAuth client turns it into
 * ReauthRequiredError) and every other permanent refusal → 400: this code will never work. Timeouts,
 * network errors, 5xx and 429 → 503: the same code may still work on a reload.
 */
function exchangeFailure(error: unknown, log: Logger): ReceiverError {
  if (error instanceof ReauthRequiredError) {
    log.warn({ err: error }, 'oauth code refused');
    return new ReceiverError(
      'OAUTH_EXCHANGE_FAILED',
      `GHL refused the authorization code (${error.reason}); it was used already or has expired: install the app again`,
    );
  }
  if (error instanceof OAuthError) {
    if (error.retryable) {
      log.warn({ err: error }, 'oauth token endpoint unavailable');
      return new ReceiverError(
        'OAUTH_UNAVAILABLE',
        `GHL's token endpoint is unavailable (${error.message}); reload this page to try again`,
        { headers: { 'Retry-After': '5' } },
      );
    }
    // invalid_client or a wrong redirect URI is the operator's configuration, not the installer's.
    log[error.oauthError === 'invalid_client' ? 'error' : 'warn']({ err: error }, 'oauth code refused');
    return new ReceiverError('OAUTH_EXCHANGE_FAILED', `GHL refused the code exchange (${error.message})`);
  }
  throw error;
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char,
  );
}
