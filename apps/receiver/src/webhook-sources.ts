import type { IncomingHttpHeaders } from 'node:http';
import { TaskEvent } from '@closeloop/queue';
import type { z } from 'zod';
import { createSignatureVerifier } from './webhook-signature.js';

/**
 * A sender that posts to `/webhooks/:source`: how its deliveries are authenticated, what its body
 * looks like, and the idempotency key of a delivery (docs/architecture.md: authenticate per source, then parse
 * and validate per source). `events` is the generic Standard Webhooks source; a helpdesk with its
 * own signature scheme and payload becomes one more entry here.
 */
export interface WebhookSource {
  readonly name: string;
  /** False when its secret is not configured: the route answers 503 SOURCE_NOT_CONFIGURED. */
  readonly configured: boolean;
  /** Throws a 401 ReceiverError unless the delivery is genuine; returns its idempotency key. */
  authenticate(rawBody: Buffer, headers: IncomingHttpHeaders): { idempotencyKey: string };
  /** Validates the parsed body into the task event to enqueue. */
  readonly schema: z.ZodType<TaskEvent>;
}

export function createWebhookSources(config: {
  webhookSecrets: readonly string[];
}): Map<string, WebhookSource> {
  const verify = createSignatureVerifier(config.webhookSecrets);
  const events: WebhookSource = {
    name: 'events',
    configured: config.webhookSecrets.length > 0,
    authenticate: (rawBody, headers) => ({ idempotencyKey: verify(rawBody, headers).webhookId }),
    schema: TaskEvent,
  };
  return new Map([[events.name, events]]);
}
