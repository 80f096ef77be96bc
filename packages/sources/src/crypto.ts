import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SourceError } from './source-error.js';

/**
 * The primitives every vendor scheme is built from. Node's crypto does the HMAC; the compare is
 * constant-time over SHA-256 digests of both sides, so neither the content nor the length of the
 * expected value leaks through timing (timingSafeEqual itself throws on unequal lengths).
 */
export function hmac(
  algorithm: 'sha1' | 'sha256',
  secret: string,
  data: Buffer | string,
  encoding: 'hex' | 'base64',
): string {
  return createHmac(algorithm, secret).update(data).digest(encoding);
}

export function safeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB);
}

/** True when `received` equals `expected(secret)` for any of the secrets (several during a rotation). */
export function matchesAnySecret(
  secrets: readonly string[],
  received: string,
  expected: (secret: string) => string,
): boolean {
  let matched = false;
  // Every secret is tried, so the time taken does not say which one matched.
  for (const secret of secrets) if (safeEqual(expected(secret), received)) matched = true;
  return matched;
}

/**
 * One header's value. Node joins a repeated custom header with ", " (so a doubled signature arrives
 * as one unusable string and fails the compare); `set-cookie`-like arrays are joined the same way.
 */
export function readHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  const joined = Array.isArray(value) ? value.join(', ') : value;
  return joined === undefined || joined === '' ? undefined : joined;
}

/** Throws MISSING_SIGNATURE_HEADERS naming every header that is absent; returns the values. */
export function requireHeaders<const N extends readonly string[]>(
  headers: IncomingHttpHeaders,
  names: N,
): { [K in keyof N]: string } {
  const values = names.map((name) => readHeader(headers, name));
  const missing = names.filter((_name, index) => values[index] === undefined);
  if (missing.length > 0) {
    throw new SourceError('MISSING_SIGNATURE_HEADERS', `Missing headers: ${missing.join(', ')}`);
  }
  return values as { [K in keyof N]: string };
}

export function invalidSignature(what: string): SourceError {
  return new SourceError('INVALID_SIGNATURE', `${what} does not match the body with any configured secret`);
}
