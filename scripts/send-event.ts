/**
 * `pnpm send-event`: sends one signed event to a receiver — the way a helpdesk would — for trying
 * closeloop by hand.
 *
 * - Default: a Standard Webhooks event to POST /webhooks/events with the GHL ids in it. The secret
 *   comes from WEBHOOK_SECRET or `pnpm dev`'s .data/dev-secrets.json.
 * - `--source zendesk`: a Zendesk trigger webhook to POST /webhooks/zendesk with closeloop's body
 *   template and no GHL ids (docs/senders/zendesk.md), signed as Zendesk signs: base64
 *   HMAC-SHA256(secret, timestamp + body). The worker then finds the task by the ticket reference.
 *   The secret comes from ZENDESK_WEBHOOK_SECRET or .data/dev-secrets.json.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
    source: { type: 'string', default: 'events' },
    type: { type: 'string', default: 'ticket.closed' },
    location: { type: 'string', default: 've9EPM428h8vShlRW1KT' },
    contact: { type: 'string', default: 'sx6wyHhbFdRXh302LLNR' },
    task: { type: 'string', default: 'ocQHyuzHvysMo5N5VsXc' },
    ticket: { type: 'string', default: 'ZD-4711' },
    email: { type: 'string' },
    id: { type: 'string' },
  },
});

function devSecret(
  fromEnv: string | undefined,
  key: 'webhookSecret' | 'zendeskSecret',
  name: string,
): string {
  const first = fromEnv?.split(/\s+/).find(Boolean);
  if (first) return first;
  // The same data folder as `pnpm dev` (CLOSELOOP_DEV_DIR, default .data).
  const dataDir = resolve(process.env.CLOSELOOP_DEV_DIR || join(resolve(import.meta.dirname, '..'), '.data'));
  const file = join(dataDir, 'dev-secrets.json');
  const kept = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>)[key]
    : undefined;
  if (kept) return kept;
  throw new Error(`No ${name} and none in .data/dev-secrets.json (start \`pnpm dev\` first).`);
}

function standardWebhook(): { path: string; headers: Record<string, string>; body: string } {
  const body = JSON.stringify({
    type: values.type,
    occurredAt: new Date().toISOString(),
    ticket: { id: values.ticket },
    ghl: { locationId: values.location, contactId: values.contact, taskId: values.task },
  });
  const id = values.id ?? `msg_${randomUUID()}`;
  const now = new Date();
  const secret = devSecret(process.env.WEBHOOK_SECRET, 'webhookSecret', 'WEBHOOK_SECRET');
  return {
    path: '/webhooks/events',
    body,
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, now, body),
    },
  };
}

function zendeskWebhook(): { path: string; headers: Record<string, string>; body: string } {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const body = JSON.stringify({
    ticket_id: values.ticket,
    status: values.type === 'ticket.reopened' ? 'open' : 'solved',
    requester_email: values.email ?? '',
    updated_at: now,
  });
  const secret = devSecret(process.env.ZENDESK_WEBHOOK_SECRET, 'zendeskSecret', 'ZENDESK_WEBHOOK_SECRET');
  return {
    path: '/webhooks/zendesk',
    body,
    headers: {
      'x-zendesk-webhook-id': 'demo-webhook',
      'x-zendesk-webhook-invocation-id': values.id ?? randomUUID(),
      'x-zendesk-webhook-signature-timestamp': now,
      'x-zendesk-webhook-signature': createHmac('sha256', secret)
        .update(now + body)
        .digest('base64'),
    },
  };
}

if (values.source !== 'events' && values.source !== 'zendesk') {
  throw new Error(`--source must be events or zendesk, got ${values.source}`);
}
const request = values.source === 'zendesk' ? zendeskWebhook() : standardWebhook();
const response = await fetch(`${values.url}${request.path}`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', ...request.headers },
  body: request.body,
});
process.stdout.write(`${response.status} ${await response.text()}\n`);
process.exitCode = response.ok ? 0 : 1;
