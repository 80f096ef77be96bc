import { createHash, timingSafeEqual } from 'node:crypto';
import { ReceiverError } from './errors.js';

export type ApiKeyCheck = (authorization: string | undefined) => void;

/**
 * Checks `Authorization: Bearer <key>`. Both sides are hashed before the constant-time compare:
 * timingSafeEqual needs equal lengths, and comparing digests keeps the key's length from showing
 * in the timing too.
 */
export function createApiKeyCheck(apiKey: string): ApiKeyCheck {
  const expected = hashKey(apiKey);
  return (authorization) => {
    if (!authorization) {
      throw new ReceiverError('MISSING_API_KEY', 'Send the API key as "Authorization: Bearer <key>"', {
        headers: { 'WWW-Authenticate': 'Bearer' },
      });
    }
    // RFC 6750 §2.1: the scheme is case-insensitive; the token is everything after one or more spaces.
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (!match?.[1] || !timingSafeEqual(hashKey(match[1]), expected)) {
      throw new ReceiverError('INVALID_API_KEY', 'The API key is not valid', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      });
    }
  };
}

function hashKey(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
