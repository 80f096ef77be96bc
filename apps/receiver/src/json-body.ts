import type { z } from 'zod';
import { ReceiverError, formatIssues } from './errors.js';

/**
 * `application/json`, optionally with `charset=utf-8` (RFC 8259 §8.1: JSON between systems is
 * UTF-8). Anything else is 415: a form post or text/plain is a sender bug worth naming.
 */
export function assertJsonContentType(contentType: string | undefined): void {
  const [mediaType = '', ...parameters] = (contentType ?? '').split(';');
  const charset = parameters
    .map((parameter) => parameter.split('='))
    .find(([name]) => name?.trim().toLowerCase() === 'charset')?.[1]
    ?.trim()
    .replace(/^"(.*)"$/, '$1')
    .toLowerCase();
  if (
    mediaType.trim().toLowerCase() !== 'application/json' ||
    (charset && !['utf-8', 'utf8'].includes(charset))
  ) {
    throw new ReceiverError('UNSUPPORTED_MEDIA_TYPE', 'Content-Type must be application/json (UTF-8)');
  }
}

/** Reusable: decode() without `stream: true` keeps no state between calls. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The body bytes as JSON. Decoding is strict (`fatal`): invalid UTF-8 is refused rather than
 * silently replaced by U+FFFD. That also matters for signatures: `standardwebhooks` signs
 * `Buffer#toString()`, which replaces invalid sequences, so two different byte strings could share a
 * signature; refusing invalid UTF-8 after the check closes that gap.
 */
export function parseJsonBody(rawBody: Buffer): unknown {
  let text: string;
  try {
    text = strictUtf8.decode(rawBody);
  } catch {
    throw new ReceiverError('INVALID_JSON', 'The body is not valid UTF-8');
  }
  if (text.trim() === '') throw new ReceiverError('INVALID_JSON', 'The body is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8's message names the position, which helps the sender; it quotes only the sender's own bytes.
    const detail = error instanceof SyntaxError ? `: ${error.message.slice(0, 200)}` : '';
    throw new ReceiverError('INVALID_JSON', `The body is not valid JSON${detail}`);
  }
}

/** Validates a parsed body; issues come back as `[{path, message}]`. */
export function validateBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (!result.success) {
    throw new ReceiverError('INVALID_BODY', 'The body does not match the expected schema', {
      issues: formatIssues(result.error),
    });
  }
  return result.data;
}
