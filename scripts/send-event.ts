/**
 * `pnpm send-event`: sends one signed Standard Webhooks event to a receiver — the way a helpdesk
 * would — for trying closeloop by hand. Secrets come from WEBHOOK_SECRET or `pnpm dev`'s
 * .data/dev-secrets.json.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Webhook } from 'standardwebhooks';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:3000' },
    type: { type: 'string', default: 'ticket.closed' },
    location: { type: 'string', default: 've9EPM428h8vShlRW1KT' },
    contact: { type: 'string', default: 'sx6wyHhbFdRXh302LLNR' },
    task: { type: 'string', default: 'ocQHyuzHvysMo5N5VsXc' },
    ticket: { type: 'string', default: 'ZD-4711' },
    id: { type: 'string' },
  },
});

function webhookSecret(): string {
  const fromEnv = process.env.WEBHOOK_SECRET?.split(/\s+/).find(Boolean);
  if (fromEnv) return fromEnv;
  const file = join(resolve(import.meta.dirname, '..'), '.data', 'dev-secrets.json');
  if (existsSync(file))
    return (JSON.parse(readFileSync(file, 'utf8')) as { webhookSecret: string }).webhookSecret;
  throw new Error('No WEBHOOK_SECRET and no .data/dev-secrets.json (start `pnpm dev` first).');
}

const body = JSON.stringify({
  type: values.type,
  occurredAt: new Date().toISOString(),
  ticket: { id: values.ticket },
  ghl: { locationId: values.location, contactId: values.contact, taskId: values.task },
});
const id = values.id ?? `msg_${randomUUID()}`;
const now = new Date();
const signature = new Webhook(webhookSecret()).sign(id, now, body);
const response = await fetch(`${values.url}/webhooks/events`, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signature,
  },
  body,
});
process.stdout.write(`${response.status} ${await response.text()}\n`);
process.exitCode = response.ok ? 0 : 1;
