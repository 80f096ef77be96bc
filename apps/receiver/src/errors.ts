import type { ZodError } from 'zod';

/**
 * Every answer the receiver gives that is not a success carries one of these codes
 * (docs/contracts.md, "HTTP": `{"error": {"code": "UPPER_SNAKE", "message", "issues"?}}`). Senders and
 * dashboards match on the code, so codes are stable; messages are for humans and may change.
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'REQUEST_TIMEOUT'
  | 'HEADERS_TOO_LARGE'
  /** An `Expect` header other than `100-continue` (RFC 9110 §10.1.1): Node's own bare 417, in our shape. */
  | 'EXPECTATION_FAILED'
  | 'INVALID_JSON'
  | 'INVALID_BODY'
  | 'MISSING_SIGNATURE_HEADERS'
  | 'INVALID_SIGNATURE_HEADERS'
  | 'SIGNATURE_EXPIRED'
  | 'INVALID_SIGNATURE'
  | 'MISSING_API_KEY'
  | 'INVALID_API_KEY'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'UNKNOWN_SOURCE'
  | 'METHOD_NOT_ALLOWED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INTERNAL'
  | 'QUEUE_UNAVAILABLE'
  | 'SOURCE_NOT_CONFIGURED'
  /** GET /oauth/callback: GHL refused the install code (spent, expired, another app's) or answered unusably. */
  | 'OAUTH_EXCHANGE_FAILED'
  /** GET /oauth/callback: GHL's POST /oauth/token did not answer, or answered 5xx/429. */
  | 'OAUTH_UNAVAILABLE';

/**
 * The one place that turns a code into a status. Exhaustive: a new code does not compile until
 * it has a status here (the `never` default).
 */
export function mapCodeToStatus(code: ErrorCode): number {
  switch (code) {
    case 'BAD_REQUEST':
    case 'INVALID_JSON':
    case 'INVALID_BODY':
    case 'OAUTH_EXCHANGE_FAILED':
      return 400;
    case 'MISSING_SIGNATURE_HEADERS':
    case 'INVALID_SIGNATURE_HEADERS':
    case 'SIGNATURE_EXPIRED':
    case 'INVALID_SIGNATURE':
    case 'MISSING_API_KEY':
    case 'INVALID_API_KEY':
    case 'UNAUTHORIZED':
      return 401;
    case 'NOT_FOUND':
    case 'UNKNOWN_SOURCE':
      return 404;
    case 'METHOD_NOT_ALLOWED':
      return 405;
    case 'REQUEST_TIMEOUT':
      return 408;
    case 'PAYLOAD_TOO_LARGE':
      return 413;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 415;
    case 'EXPECTATION_FAILED':
      return 417;
    case 'HEADERS_TOO_LARGE':
      return 431;
    case 'INTERNAL':
      return 500;
    case 'QUEUE_UNAVAILABLE':
    case 'SOURCE_NOT_CONFIGURED':
    case 'OAUTH_UNAVAILABLE':
      return 503;
    default: {
      const unhandled: never = code;
      throw new Error(`No HTTP status for error code ${String(unhandled)}`);
    }
  }
}

export interface ErrorIssue {
  path: (string | number)[];
  message: string;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; issues?: ErrorIssue[] };
}

/** An error the receiver means to answer with: a code, a message safe to show, optional headers. */
export class ReceiverError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly options: { issues?: ErrorIssue[]; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'ReceiverError';
    this.status = mapCodeToStatus(code);
  }

  toBody(): ErrorBody {
    return formatErrorBody(this.code, this.message, this.options.issues);
  }
}

export function formatErrorBody(code: ErrorCode, message: string, issues?: ErrorIssue[]): ErrorBody {
  return { error: { code, message, ...(issues ? { issues } : {}) } };
}

/** Enough issues to fix a request; a body with thousands of mistakes does not get thousands back. */
const MAX_ISSUES = 50;

export function formatIssues(error: ZodError): ErrorIssue[] {
  return error.issues.slice(0, MAX_ISSUES).map((issue) => ({
    path: issue.path.map((segment) => (typeof segment === 'symbol' ? String(segment) : segment)),
    message: issue.message,
  }));
}

/** A 503 that tells the sender when to come back (docs/contracts.md, "HTTP"). */
export function buildQueueUnavailableError(cause?: unknown): ReceiverError {
  return new ReceiverError('QUEUE_UNAVAILABLE', 'The queue is unreachable; retry shortly', {
    headers: { 'Retry-After': '1' },
    cause,
  });
}
