import { isUtf8 } from 'node:buffer';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { IdempotencyKey } from '@closeloop/queue';
import { readHeader, safeEqual } from '@closeloop/sources';
import { ReceiverError } from './errors.js';

/** Standard Webhooks' tolerance, both ways (spec; `standardwebhooks` uses the same 5 * 60 s). */
export const SIGNATURE_TOLERANCE_SECONDS = 5 * 60;

export interface VerifiedDelivery {
  /** `webhook-id`: the same on every redelivery, hence the idempotency key. */
  webhookId: string;
  timestamp: number;
}

export type SignatureVerifier = (rawBody: Buffer, headers: IncomingHttpHeaders) => VerifiedDelivery;

/**
 * Builds the Standard Webhooks check for a list of secrets (several during a rotation: a delivery
 * is genuine if any secret verifies it). Each secret's key is decoded once.
 *
 * The scheme (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
 * "Verifying webhook authenticity"): `webhook-signature` holds space-separated `v1,<base64>` entries,
 * each an HMAC-SHA256, keyed with the secret's base64 after `whsec_`, of `{id}.{timestamp}.{body}`.
 * Node's crypto computes it rather than the `standardwebhooks` package, whose pure-JavaScript SHA-256
 * (fast-sha256) was 6 % of the receiver's CPU per event (a --cpu-prof of `pnpm bench receiver`).
 * The tests sign with that package, as senders do, so the two stay interchangeable. The HMAC is over
 * the body's bytes. The package hashes `Buffer#toString()` instead, which replaces invalid UTF-8 with
 * U+FFFD; for such a body (and only then) that form is accepted too, so a sender's package-signed
 * body still gets the answer it always got, 400 INVALID_JSON from the strict decode after this check,
 * rather than a misleading 401. Nothing invalid is accepted either way.
 *
 * Checked strictly, where the package is lenient: the timestamp must be whole seconds sent once (it
 * reads it with parseInt: "123abc" is 123), and the webhook-id becomes the job's idempotency key
 * (printable ASCII, at most 256 characters).
 */
export function createSignatureVerifier(secrets: readonly string[]): SignatureVerifier {
  const keys = secrets.map(decodeSecret);

  return (rawBody, headers) => {
    const webhookId = readHeader(headers, 'webhook-id');
    const timestampHeader = readHeader(headers, 'webhook-timestamp');
    const signature = readHeader(headers, 'webhook-signature');
    const missing = [
      ['webhook-id', webhookId],
      ['webhook-timestamp', timestampHeader],
      ['webhook-signature', signature],
    ]
      .filter(([, value]) => !value)
      .map(([name]) => name);
    if (missing.length > 0 || !webhookId || !timestampHeader || !signature) {
      throw new ReceiverError(
        'MISSING_SIGNATURE_HEADERS',
        `Missing Standard Webhooks headers: ${missing.join(', ')}`,
      );
    }
    // Node joins a repeated custom header with ", ", so a doubled webhook-id or timestamp lands here.
    if (!IdempotencyKey.safeParse(webhookId).success) {
      throw new ReceiverError(
        'INVALID_SIGNATURE_HEADERS',
        'webhook-id must be 1–256 printable ASCII characters without spaces, sent once',
      );
    }
    if (!/^\d{1,12}$/.test(timestampHeader)) {
      throw new ReceiverError(
        'INVALID_SIGNATURE_HEADERS',
        'webhook-timestamp must be a Unix time in whole seconds, sent once',
      );
    }
    const timestamp = Number(timestampHeader);
    if (Math.abs(Date.now() / 1000 - timestamp) > SIGNATURE_TOLERANCE_SECONDS) {
      throw buildExpiredError();
    }

    // Only v1 entries count (the spec's other prefix, v1a, is asymmetric and not offered here). Read
    // as the package reads them, `version,signature[,ignored…]`: a header sent twice arrives joined
    // with ", ", which leaves a trailing comma on the first value.
    const given = signature.split(' ').flatMap((entry) => {
      const [version, value] = entry.split(',');
      return version === 'v1' && value ? [value] : [];
    });
    const signs = (body: Buffer | string): boolean => {
      let matched = false;
      // Every secret and entry is compared, so the time taken does not say which one matched.
      for (const key of keys) {
        const expected = createHmac('sha256', key)
          .update(`${webhookId}.${timestampHeader}.`)
          .update(body)
          .digest('base64');
        for (const entry of given) if (safeEqual(entry, expected)) matched = true;
      }
      return matched;
    };
    if (signs(rawBody) || (!isUtf8(rawBody) && signs(rawBody.toString()))) {
      return { webhookId, timestamp };
    }
    throw new ReceiverError(
      'INVALID_SIGNATURE',
      'No webhook-signature matches the body with any configured secret',
    );
  };
}

/** A Standard Webhooks secret is `whsec_` and the key in base64 (the prefix is optional). */
function decodeSecret(secret: string): Buffer {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  if (key.length === 0) throw new Error('A Standard Webhooks secret must not be empty');
  return key;
}

function buildExpiredError(): ReceiverError {
  return new ReceiverError(
    'SIGNATURE_EXPIRED',
    `webhook-timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} seconds away from the receiver's clock`,
  );
}
