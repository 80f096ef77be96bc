import { createHash } from 'node:crypto';
import {
  buildEvent,
  invalidBody,
  stringField,
  type MapResult,
  type SourcePreset,
  type SourceRequest,
  type SourceSettings,
  type SourceType,
} from './preset.js';
import { authenticateSharedSecret } from './shared-secret.js';

/**
 * The body closeloop asks senders with a body template to send (Zendesk triggers, Freshdesk
 * automations, Gorgias HTTP integrations, Jira automation "Send web request"; docs/senders/*.md):
 *
 * ```json
 * { "ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}", "requester_email": "{{ticket.requester.email}}",
 *   "updated_at": "{{ticket.updated_at_with_timestamp}}", "ticket_url": "{{ticket.link}}",
 *   "ghl_contact_id": "", "ghl_task_id": "" }
 * ```
 *
 * Only `ticket_id` and `status` are required. Values are strings or numbers (a placeholder may
 * render either); blank ones count as absent. `ghl_contact_id` + `ghl_task_id`, when a ticket field
 * holds them, skip the lookup.
 */
export interface TemplateStates {
  /** Status values (compared case-insensitively) that close the task. */
  closed: readonly string[];
  /** Status values that reopen it. Any other status is ignored. */
  reopened: readonly string[];
}

/**
 * A preset for senders that write the template body and sign nothing (presets/freshdesk.ts,
 * presets/token.ts): the shared secret authenticates (shared-secret.ts), `defaults` are the status
 * values that close and reopen. They send no delivery id, so the key is built from the ticket.
 */
export function templatePreset(type: SourceType, defaults: TemplateStates): SourcePreset {
  return {
    type,
    authenticate: authenticateSharedSecret,
    map: (body, request, settings) => mapTemplateBody(body, request, settings, defaults, undefined),
  };
}

export function mapTemplateBody(
  body: unknown,
  request: SourceRequest,
  settings: SourceSettings,
  defaults: TemplateStates,
  /** The vendor's delivery id, when it sends one; else the key is built from the ticket. */
  deliveryId: string | undefined,
): MapResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidBody('The body must be a JSON object with ticket_id and status');
  }
  const ticketId = stringField(body, 'ticket_id')?.trim();
  const status = stringField(body, 'status')?.trim();
  if (!ticketId || !status) {
    throw invalidBody('The body needs ticket_id and status (see the sender guide in docs/senders)');
  }
  const closed = (settings.states.closed ?? defaults.closed).map((value) => value.toLowerCase());
  const reopened = (settings.states.reopened ?? defaults.reopened).map((value) => value.toLowerCase());
  const normalised = status.toLowerCase();
  const type = closed.includes(normalised)
    ? 'ticket.closed'
    : reopened.includes(normalised)
      ? 'ticket.reopened'
      : undefined;
  if (type === undefined)
    return { kind: 'ignored', reason: `status "${status.slice(0, 64)}" neither closes nor reopens` };

  const updatedAt = stringField(body, 'updated_at')?.trim();
  const occurredAt = parseTime(updatedAt) ?? request.receivedAt;
  const event = buildEvent(
    {
      type,
      occurredAt,
      ticketId,
      ticketUrl: httpUrlOrUndefined(stringField(body, 'ticket_url')),
      email: stringField(body, 'requester_email'),
      contactId: stringField(body, 'ghl_contact_id'),
      taskId: stringField(body, 'ghl_task_id'),
    },
    settings,
  );
  return {
    kind: 'events',
    events: [{ idempotencyKey: deliveryId ?? keyFor(ticketId, normalised, updatedAt, request), event }],
    ignored: [],
  };
}

/**
 * Without a delivery id: ticket id + status + update time, so a retry of one change is a duplicate
 * and the next change is not. Without an update time the body's hash stands in for it: the same
 * bytes are the same delivery.
 */
function keyFor(
  ticketId: string,
  status: string,
  updatedAt: string | undefined,
  request: SourceRequest,
): string {
  const when = updatedAt || createHash('sha256').update(request.rawBody).digest('hex').slice(0, 32);
  const key = `${ticketId}:${status}:${when}`.replace(/[^\x21-\x7e]/g, '_');
  return key.length <= 256 ? key : createHash('sha256').update(key).digest('hex');
}

/**
 * `ticket_url` is informational, so a value that is no absolute http(s) URL is dropped rather than
 * refusing the delivery: Zendesk's `{{ticket.url}}` renders without a scheme
 * ("acme.zendesk.com/agent/tickets/1"; `{{ticket.link}}` / `{{ticket.url_with_protocol}}` carry it,
 * https://support.zendesk.com/hc/en-us/articles/4408886858138), which the event schema would refuse.
 */
function httpUrlOrUndefined(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const url = new URL(value.trim());
    return url.protocol === 'https:' || url.protocol === 'http:' ? value.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** ISO 8601, Unix seconds or Unix milliseconds; undefined when unreadable. */
export function parseTime(value: string | number | undefined): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const numeric = typeof value === 'number' ? value : /^\d{9,13}$/.test(value) ? Number(value) : undefined;
  const date = numeric !== undefined ? new Date(numeric < 1e12 ? numeric * 1000 : numeric) : new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
