import { STATUS_CODES } from 'node:http';

/**
 * GHL error bodies as the real API sends them: `{statusCode, message, error?}` with `message` a string,
 * except for 422 where it is an array of strings (docs/ghl-api.md; UnprocessableDTO in common-schemas.json).
 */
export interface GhlErrorBody {
  statusCode: number;
  message: string | string[];
  error?: string;
}

function reason(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

export function ghlError(status: number, message: string): GhlErrorBody {
  return { statusCode: status, message, error: reason(status) };
}

export function ghlValidationError(messages: string[]): GhlErrorBody {
  return { statusCode: 422, message: messages, error: 'Unprocessable Entity' };
}

/** The body an injected fault answers with when the fault gives none. */
export function faultBody(status: number): GhlErrorBody {
  if (status === 422) return ghlValidationError(['Unprocessable Entity']);
  if (status === 429) return ghlError(429, 'Too many requests');
  // GHL's own 500 body (highlevel-api-docs issue #6) has no `error` field.
  if (status === 500) return { statusCode: 500, message: 'Internal server error' };
  return ghlError(status, reason(status));
}

// Messages the real API gives (docs/ghl-api.md §3: issue #213 and practitioners' reports).
export const MESSAGES = {
  versionMissing: 'version header was not found.',
  versionInvalid: 'version header is invalid',
  invalidToken: 'Invalid JWT',
  notAuthorizedForScope: 'The token is not authorized for this scope.',
  wrongLocation: 'The token does not have access to this location.',
  contactNotFound: 'Contact not found',
  taskNotFound: 'Task not found',
  tooManyRequests: 'Too many requests',
} as const;
