/**
 * Sending events to the receiver as a Standard Webhooks sender does (docs/contracts.md, "HTTP"):
 * the signature is the `standardwebhooks` library's, made with the receiver's WEBHOOK_SECRET.
 */
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The headers of a signed delivery of `body` under `webhookId`, signed now. */
export function signedEventHeaders(secret: string, webhookId: string, body: string): Record<string, string> {
  const now = new Date();
  return {
    'content-type': 'application/json',
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(webhookId, now, body),
  };
}

export interface TaskTarget {
  locationId: string;
  contactId: string;
}

/** POST /webhooks/events with a close (or `type`) of `taskId`; its answer. */
export async function sendTaskWebhook(
  receiverUrl: string,
  secret: string,
  target: TaskTarget,
  taskId: string,
  id = `msg_${randomUUID()}`,
  type = 'ticket.closed',
): Promise<{ id: string; status: number; body: { jobId: string; duplicate: boolean } }> {
  const body = JSON.stringify({
    type,
    occurredAt: new Date().toISOString(),
    ticket: { id: 'ZD-4711' },
    ghl: { locationId: target.locationId, contactId: target.contactId, taskId },
  });
  const response = await fetch(`${receiverUrl}/webhooks/events`, {
    method: 'POST',
    headers: signedEventHeaders(secret, id, body),
    body,
  });
  return {
    id,
    status: response.status,
    body: (await response.json()) as { jobId: string; duplicate: boolean },
  };
}
