import express, { type Request, type RequestHandler } from 'express';
import { answer, checkVersion, contextOf, type CallContext } from './call-context.js';
import { ghlError, ghlValidationError, MESSAGES } from './ghl-errors.js';
import { redactSecrets, type OAuthRefusal } from './oauth.js';
import type { SandboxState } from './state.js';

export function isOAuthPath(path: string): boolean {
  return path === '/oauth' || path.startsWith('/oauth/');
}

const FORM = /^application\/x-www-form-urlencoded\b/i;

/**
 * Request bodies on /oauth: GHL's document gives only application/x-www-form-urlencoded
 * (apps/oauth.json), so only that is read; any other body is treated as empty, which makes the
 * required fields fail validation (422). The call log gets the fields with every secret redacted,
 * and never the raw text (it would hold the client secret, the code or a refresh token).
 */
export function parseOAuthBody(req: Request, context: CallContext, raw: unknown): void {
  if (typeof raw !== 'string' || raw.length === 0) return;
  if (FORM.test(req.headers['content-type'] ?? '')) {
    const value = Object.fromEntries(new URLSearchParams(raw));
    context.body = { kind: 'form', value };
    context.call.body = redactSecrets(value);
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  context.call.body =
    typeof parsed === 'object' && parsed !== null ? redactSecrets(parsed) : '[redacted: not a form body]';
}

const TOKEN_FIELDS = [
  'client_id',
  'client_secret',
  'grant_type',
  'code',
  'refresh_token',
  'user_type',
  'redirect_uri',
];
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'];
const USER_TYPES = ['Company', 'Location'];
const LOCATION_TOKEN_FIELDS = ['companyId', 'locationId'];

/**
 * class-validator's messages, as GHL's NestJS DTOs give them (docs/ghl-api.md §6): unknown properties
 * first (`forbidNonWhitelisted`), then each field's checks.
 */
function validateForm(
  fields: Record<string, string>,
  allowed: string[],
  required: string[],
  enums: Record<string, string[]>,
): string[] {
  const messages: string[] = [];
  for (const name of Object.keys(fields)) {
    if (!allowed.includes(name)) messages.push(`property ${name} should not exist`);
  }
  for (const name of allowed) {
    const value = fields[name];
    const values = enums[name];
    if (required.includes(name) && (value === undefined || value === '')) {
      messages.push(`${name} should not be empty`);
      if (value === undefined) {
        messages.push(
          values
            ? `${name} must be one of the following values: ${values.join(', ')}`
            : `${name} must be a string`,
        );
      }
      continue;
    }
    if (value !== undefined && values && !values.includes(value)) {
      messages.push(`${name} must be one of the following values: ${values.join(', ')}`);
    }
  }
  return messages;
}

function formOf(context: CallContext): Record<string, string> {
  return context.body.kind === 'form' ? context.body.value : {};
}

function refuse(state: SandboxState, res: express.Response, refusal: OAuthRefusal): void {
  answer(state, res, refusal.status, refusal.body);
}

/** What every /oauth answer shares: tokens redacted in the call log, and no budget headers. */
const oauthAnswer: RequestHandler = (_req, res, next) => {
  const context = contextOf(res);
  context.redactResponse = true;
  // The OAuth routes spend no location's budget in the sandbox, so they show none (a choice:
  // docs/ghl-api.md §3.1).
  context.rateHeadersSet = true;
  next();
};

/** `POST /oauth/token` and `POST /oauth/locationToken` (apps/oauth.json; docs/ghl-api.md §3.1). */
export function createOAuthRouter(state: SandboxState): express.Router {
  const router = express.Router();

  // No Version header and no bearer token: the document declares neither for this operation.
  router.post('/oauth/token', oauthAnswer, (_req, res) => {
    const fields = formOf(contextOf(res));
    const messages = validateForm(fields, TOKEN_FIELDS, ['client_id', 'client_secret', 'grant_type'], {
      grant_type: GRANT_TYPES,
      user_type: USER_TYPES,
    });
    if (messages.length > 0) {
      answer(state, res, 422, ghlValidationError(messages));
      return;
    }
    const client = state.oauth.authenticateClient(fields.client_id ?? '', fields.client_secret ?? '');
    if (!client.ok) {
      refuse(state, res, client);
      return;
    }
    const grantType = fields.grant_type;
    if (grantType === 'authorization_code' || grantType === 'refresh_token') {
      const credential = grantType === 'authorization_code' ? fields.code : fields.refresh_token;
      if (credential === undefined || credential === '') {
        // RFC 6749 §5.2: a missing parameter is `invalid_request`.
        const field = grantType === 'authorization_code' ? 'code' : 'refresh_token';
        answer(state, res, 400, {
          statusCode: 400,
          message: `${field} is required for grant_type ${grantType}`,
          error: 'invalid_request',
          error_description: `${field} is required for grant_type ${grantType}`,
        });
        return;
      }
      const result =
        grantType === 'authorization_code'
          ? state.oauth.exchangeCode(client.app, credential, fields.redirect_uri)
          : state.oauth.refresh(client.app, credential);
      if (result.ok) answer(state, res, 200, result.response);
      else refuse(state, res, result);
      return;
    }
    const description = `grant_type ${grantType ?? ''} is not supported by the sandbox`;
    answer(state, res, 400, {
      statusCode: 400,
      message: description,
      error: 'unsupported_grant_type',
      error_description: description,
    });
  });

  router.post('/oauth/locationToken', oauthAnswer, checkVersion(state), (_req, res) => {
    const context = contextOf(res);
    // Agency-Access-Only (apps/oauth.json): a location token or PIT is the wrong token type.
    if (context.companyId === undefined || context.token === undefined) {
      const message =
        context.locationId !== undefined ? MESSAGES.notAuthorizedForScope : MESSAGES.invalidToken;
      answer(state, res, 401, ghlError(401, message));
      return;
    }
    const fields = formOf(context);
    const messages = validateForm(fields, LOCATION_TOKEN_FIELDS, LOCATION_TOKEN_FIELDS, {});
    if (messages.length > 0) {
      answer(state, res, 422, ghlValidationError(messages));
      return;
    }
    const result = state.oauth.mintLocationToken(
      context.token,
      fields.companyId ?? '',
      fields.locationId ?? '',
    );
    if (result.ok) answer(state, res, 200, result.response);
    else refuse(state, res, result);
  });

  return router;
}
