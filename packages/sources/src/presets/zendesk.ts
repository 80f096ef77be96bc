import { createHash } from 'node:crypto';
import { hmac, invalidSignature, matchesAnySecret, readHeader, requireHeaders } from '../crypto.js';
import {
  buildEvent,
  deliveryKey,
  field,
  invalidBody,
  stringField,
  type MapResult,
  type SourcePreset,
  type SourceRequest,
  type SourceSettings,
} from '../preset.js';
import { SourceError } from '../source-error.js';
import { mapTemplateBody, parseTime } from '../template-body.js';

/**
 * Zendesk (docs/senders/zendesk.md).
 *
 * Signature, https://developer.zendesk.com/documentation/webhooks/verifying/ :
 * `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(signing secret,
 * `X-Zendesk-Webhook-Signature-Timestamp` + raw body)), no separator. Hand-written: Zendesk ships no
 * verifier (the page says so by giving only a crypto example), and @octokit/webhooks-methods is
 * GitHub's hex `sha256=` scheme. Zendesk enforces no time window, so none is added here: a replayed
 * delivery is harmless, its key makes it a duplicate and the worker's ordering guard keeps an old
 * state from overwriting a newer one (docs/ordering.md).
 *
 * Two body forms, fixed when the webhook is created
 * (https://developer.zendesk.com/documentation/webhooks/creating-and-monitoring-webhooks/):
 * - a trigger or automation ("Notify webhook") sends the body you write: closeloop's template body
 *   (template-body.ts), with `{{ticket.status}}` = new | open | pending | hold | solved | closed;
 * - an event subscription sends Zendesk's envelope,
 *   https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/ :
 *   `{type: "zen:event-type:ticket.status_changed", id, time, subject: "zen:ticket:<id>",
 *   detail: {id, status, updated_at, ...}, event: {current, previous}}`, statuses in any case
 *   ("SOLVED"), no requester email.
 *
 * Idempotency key: `X-Zendesk-Webhook-Invocation-Id`; without it the envelope's `id`; else ticket +
 * status + update time. `states.closed` / `states.reopened` override the status values below
 * (compared case-insensitively with `{{ticket.status}}`, or with `event.current` of the envelope).
 */
const DEFAULT_CLOSED = ['solved', 'closed'];
const DEFAULT_REOPENED = ['new', 'open', 'pending', 'hold'];
const STATUS_CHANGED = 'zen:event-type:ticket.status_changed';

/** A SHA-256 digest in base64: 43 characters and one "=". */
const SIGNATURE_FORMAT = /^[A-Za-z0-9+/]{43}=$/;
/** The timestamp is signed, so its content is not judged (ISO 8601 in practice); only its size. */
const TIMESTAMP_FORMAT = /^[\x20-\x7e]{1,64}$/;

export const zendesk: SourcePreset = {
  type: 'zendesk',
  authenticate(request, settings) {
    const [signature, timestamp] = requireHeaders(request.headers, [
      'x-zendesk-webhook-signature',
      'x-zendesk-webhook-signature-timestamp',
    ]);
    if (!SIGNATURE_FORMAT.test(signature)) {
      throw new SourceError(
        'INVALID_SIGNATURE_HEADERS',
        'X-Zendesk-Webhook-Signature must be a base64 HMAC-SHA256',
      );
    }
    if (!TIMESTAMP_FORMAT.test(timestamp)) {
      throw new SourceError(
        'INVALID_SIGNATURE_HEADERS',
        'X-Zendesk-Webhook-Signature-Timestamp is malformed',
      );
    }
    const signed = Buffer.concat([Buffer.from(timestamp, 'utf8'), request.rawBody]);
    if (
      !matchesAnySecret(settings.secrets, signature, (secret) => hmac('sha256', secret, signed, 'base64'))
    ) {
      throw invalidSignature('X-Zendesk-Webhook-Signature');
    }
  },
  map(body, request, settings) {
    const invocationId = readHeader(request.headers, 'x-zendesk-webhook-invocation-id');
    const deliveryId = invocationId === undefined ? undefined : deliveryKey(invocationId);
    const type = field(body, 'type');
    if (typeof type === 'string' && type.startsWith('zen:event-type:')) {
      return mapEventSubscription(body, type, request, settings, deliveryId);
    }
    return mapTemplateBody(
      body,
      request,
      settings,
      { closed: DEFAULT_CLOSED, reopened: DEFAULT_REOPENED },
      deliveryId,
    );
  },
};

function mapEventSubscription(
  body: unknown,
  type: string,
  request: SourceRequest,
  settings: SourceSettings,
  deliveryId: string | undefined,
): MapResult {
  if (type !== STATUS_CHANGED) {
    return { kind: 'ignored', reason: `Zendesk event "${type.slice(0, 80)}" is not a status change` };
  }
  const ticketId = stringField(body, 'detail', 'id') ?? ticketIdFromSubject(stringField(body, 'subject'));
  const current = stringField(body, 'event', 'current')?.trim();
  const previous = stringField(body, 'event', 'previous')?.trim();
  if (!ticketId || !current) {
    throw invalidBody('A ticket.status_changed event needs detail.id (or subject) and event.current');
  }
  const closed = (settings.states.closed ?? DEFAULT_CLOSED).map((value) => value.toLowerCase());
  const reopened = settings.states.reopened?.map((value) => value.toLowerCase());
  const now = current.toLowerCase();
  const before = previous?.toLowerCase();
  // The envelope says where the ticket came from, so a reopen is a move out of a closed status;
  // open → pending is no reopen. A configured reopened list narrows the statuses it may move to.
  const eventType = closed.includes(now)
    ? 'ticket.closed'
    : before !== undefined && closed.includes(before) && (reopened === undefined || reopened.includes(now))
      ? 'ticket.reopened'
      : undefined;
  if (eventType === undefined) {
    return {
      kind: 'ignored',
      reason: `status "${(previous ?? '?').slice(0, 32)}" → "${current.slice(0, 32)}" neither closes nor reopens`,
    };
  }
  const time = stringField(body, 'time') ?? stringField(body, 'detail', 'updated_at');
  const event = buildEvent(
    { type: eventType, occurredAt: parseTime(time) ?? request.receivedAt, ticketId },
    settings,
  );
  const eventId = stringField(body, 'id');
  const key =
    deliveryId ?? (eventId ? deliveryKey(eventId) : fallbackKey(ticketId, now, time, request.rawBody));
  return { kind: 'events', events: [{ idempotencyKey: key, event }], ignored: [] };
}

/** `zen:ticket:123` → `123`. */
function ticketIdFromSubject(subject: string | undefined): string | undefined {
  return /^zen:ticket:(\d+)$/.exec(subject ?? '')?.[1];
}

function fallbackKey(ticketId: string, status: string, time: string | undefined, rawBody: Buffer): string {
  const when = time ?? createHash('sha256').update(rawBody).digest('hex').slice(0, 32);
  return deliveryKey(`${ticketId}:${status}:${when}`.replace(/[^\x21-\x7e]/g, '_'));
}
