import type { IncomingHttpHeaders } from 'node:http';
import { IdempotencyKey } from '@closeloop/queue';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
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
 * is genuine if any secret verifies it). One `Webhook` per secret, created once: its constructor
 * decodes the key.
 *
 * The library does the HMAC and its constant-time compare. Checked here first, because the library
 * is lenient where we must not be: it reads the timestamp with parseInt ("123abc" is 123, and a
 * repeated header "123, 456" is 123), and it accepts any webhook-id although the id becomes the
 * job's idempotency key (printable ASCII, at most 256 characters).
 */
export function createSignatureVerifier(secrets: readonly string[]): SignatureVerifier {
  const webhooks = secrets.map((secret) => new Webhook(secret));

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

    const signed = {
      'webhook-id': webhookId,
      'webhook-timestamp': timestampHeader,
      'webhook-signature': signature,
    };
    for (const webhook of webhooks) {
      try {
        // jsonParse: false — the body is parsed by the route, after this check, with its own errors.
        webhook.verify(rawBody, signed, { jsonParse: false });
        return { webhookId, timestamp };
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        // The clock may have moved past the tolerance since our own check above.
        if (/timestamp too (old|new)/i.test(error.message)) throw buildExpiredError();
        // "No matching signature found": try the next secret.
      }
    }
    throw new ReceiverError(
      'INVALID_SIGNATURE',
      'No webhook-signature matches the body with any configured secret',
    );
  };
}

/** Node gives a string (repeats joined with ", "); the type allows string[] for a few headers only. */
function readHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function buildExpiredError(): ReceiverError {
  return new ReceiverError(
    'SIGNATURE_EXPIRED',
    `webhook-timestamp is more than ${SIGNATURE_TOLERANCE_SECONDS} seconds away from the receiver's clock`,
  );
}
