import { z } from 'zod';
import type { RateLimitState } from './rate-limit.js';

/**
 * Every way a GHL call can fail, as one stable vocabulary. The worker's failure policy
 * (docs/failure-policy.md) reads `retryable`, the client's verdict, and the code only for what to do
 * beyond "retry or not"; it never re-derives either from statuses. Three codes mean the request did
 * not (knowingly) reach GHL and carry no `status`: ABORTED, NO_CREDENTIALS and INVALID_REQUEST.
 */
export const GHL_ERROR_CODES = [
  'RATE_LIMITED',
  'SERVER_ERROR',
  'TIMEOUT',
  'NETWORK',
  /** The caller cancelled the call (its `signal` aborted); it may or may not have reached GHL. */
  'ABORTED',
  /** Not sent: the credentials provider has no usable token for the location. */
  'NO_CREDENTIALS',
  /** Not sent: an id that would change the request path (`''`, `.`, `..`). */
  'INVALID_REQUEST',
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'UNPROCESSABLE',
  'BAD_RESPONSE',
] as const;
export type GhlErrorCode = (typeof GHL_ERROR_CODES)[number];

/**
 * Transient by nature: the same request may succeed later. RATE_LIMITED is retryable even when the
 * daily budget is spent (`rateLimit.dailyRemaining === 0`): it is a matter of waiting longer, which
 * the worker decides from `rateLimit`.
 */
const RETRYABLE_CODES: ReadonlySet<GhlErrorCode> = new Set([
  'RATE_LIMITED',
  'SERVER_ERROR',
  'TIMEOUT',
  'NETWORK',
  // Nothing was wrong with the request; whoever cancelled it decides whether it is sent again.
  'ABORTED',
]);

export function isRetryableCode(code: GhlErrorCode): boolean {
  return RETRYABLE_CODES.has(code);
}

/**
 * GHL's error body, `{statusCode, message, error?}` (common-schemas.json BadRequestDTO /
 * UnauthorizedDTO / UnprocessableDTO). `message` is a string for 400/401 and a string array for 422
 * (docs/ghl-api.md), so both are accepted. Loose on purpose: no error body is a stable contract, and a
 * field GHL adds later must not make the error itself unreadable; a malformed field is dropped.
 */
export const GhlErrorBody = z.looseObject({
  statusCode: z.number().optional().catch(undefined),
  message: z
    .union([z.string(), z.array(z.string())])
    .optional()
    .catch(undefined),
  error: z.string().optional().catch(undefined),
});
export type GhlErrorBody = z.infer<typeof GhlErrorBody>;

/**
 * The status → code table. Only 200/400/401/422 are documented for the task operations; the rest
 * come from what GHL is known to send (403 for another location's token, 404, 429) and from HTTP
 * itself.
 */
export function errorCodeForStatus(status: number): GhlErrorCode {
  switch (status) {
    case 400:
      return 'BAD_REQUEST';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 408:
      // The server gave up waiting for our request: the same request can succeed on a retry.
      return 'TIMEOUT';
    case 422:
      return 'UNPROCESSABLE';
    case 429:
      return 'RATE_LIMITED';
  }
  if (status >= 500) return 'SERVER_ERROR';
  // Any other 4xx (405, 409, 410, 413, 415, …) is undocumented for these operations and says "this
  // request is wrong"; sending it again unchanged cannot help, so it is a permanent BAD_REQUEST.
  if (status >= 400) return 'BAD_REQUEST';
  // 1xx/3xx/other non-2xx: the API never redirects (redirects are not followed, so the Authorization
  // header is never replayed to another host); an answer like this means a wrong base URL or a proxy
  // in the way, which retrying will not fix.
  return 'BAD_RESPONSE';
}

export interface GhlErrorInit {
  code: GhlErrorCode;
  message: string;
  method: string;
  /** The request path without the query string (the query may carry personal data, e.g. an email). */
  path: string;
  status?: number | undefined;
  body?: GhlErrorBody | undefined;
  rateLimit?: RateLimitState | undefined;
  /** Only something that cannot carry a secret; see `describeTransportError` in client.ts. */
  cause?: Error | undefined;
}

/**
 * The one error the client throws for anything GHL or the network did. It never holds the request
 * options, headers or got's own error, so the bearer token cannot leak through `message`, `stack`,
 * `JSON.stringify` or `util.inspect`.
 */
export class GhlError extends Error {
  readonly code: GhlErrorCode;
  readonly retryable: boolean;
  /** The HTTP status, when GHL answered at all. Absent for TIMEOUT, NETWORK, ABORTED and the not-sent codes. */
  readonly status: number | undefined;
  /** GHL's error body when it was a JSON object. */
  readonly body: GhlErrorBody | undefined;
  readonly method: string;
  readonly path: string;
  /** Parsed from the failed response's headers; empty when there was no response. */
  readonly rateLimit: RateLimitState;

  constructor(init: GhlErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.retryable = isRetryableCode(init.code);
    this.status = init.status;
    this.body = init.body;
    this.method = init.method;
    this.path = init.path;
    this.rateLimit = init.rateLimit ?? {};
  }

  /** GHL's `message`, always as a list (a string for 400/401, an array for 422). */
  get ghlMessages(): string[] {
    const message = this.body?.message;
    if (message === undefined) return [];
    return typeof message === 'string' ? [message] : message;
  }

  /** What a dead letter or a log line records (docs/contracts.md, "Dead letters": `lastError`); never a secret. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      status: this.status,
      body: this.body,
      method: this.method,
      path: this.path,
      rateLimit: this.rateLimit,
    };
  }
}
// On the prototype (not an own field) so `name` is right in the stack header and is not listed as
// one more enumerable property.
Object.defineProperty(GhlError.prototype, 'name', { value: 'GhlError', writable: true, configurable: true });

export function isGhlError(error: unknown): error is GhlError {
  return error instanceof GhlError;
}

/**
 * Thrown by a CredentialsProvider that has no usable token for a location (unknown location, revoked
 * OAuth grant). The client turns it into GhlError NO_CREDENTIALS (not retryable, no `status`): a
 * configuration problem to dead-letter and log loudly, not something a retry fixes.
 */
export class MissingCredentialsError extends Error {
  readonly locationId: string | undefined;

  constructor(message: string, locationId: string | undefined) {
    super(message);
    this.locationId = locationId;
  }
}
Object.defineProperty(MissingCredentialsError.prototype, 'name', {
  value: 'MissingCredentialsError',
  writable: true,
  configurable: true,
});
