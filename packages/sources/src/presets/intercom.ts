import { createHash } from 'node:crypto';
import { hmac, invalidSignature, matchesAnySecret, requireHeaders } from '../crypto.js';
import {
  buildEvent,
  deliveryKey,
  field,
  invalidBody,
  stringField,
  type SourcePreset,
  type SourceSettings,
} from '../preset.js';
import { SourceError } from '../source-error.js';
import { parseTime } from '../template-body.js';

/**
 * Intercom (docs/senders/intercom.md).
 *
 * Signature, https://developers.intercom.com/docs/webhooks/webhook-notifications ("Signed
 * notifications"): `X-Hub-Signature: sha1=` + hex(HMAC-SHA1(the app's client secret, raw body)).
 * Hand-written: @octokit/webhooks-methods only verifies `sha256=` (v6 dropped SHA-1), and Intercom
 * ships no verifier. No timestamp is signed, so there is no window; replays are duplicates (same
 * notification id) or lose to newer state (docs/ordering.md).
 *
 * Envelope, https://developers.intercom.com/docs/references/webhooks/webhook-models :
 * `{type: "notification_event", id, topic, created_at, data: {item}}`; the key is the notification
 * `id`. Topics:
 * - `ticket.state.updated`: item is a Ticket
 *   (https://developers.intercom.com/docs/references/2.12/rest-api/api.intercom.io/tickets/ticket),
 *   `ticket_state.category` resolved → close; submitted, in_progress, waiting_on_customer → reopen.
 *   Before API 2.12 `ticket_state` was the category itself, a string; both are read.
 * - `conversation.admin.closed` → close, `conversation.admin.opened` → reopen (item: Conversation).
 * - `ping` (sent when the webhook is saved) and every other topic → ignored.
 * `states.closed` / `states.reopened` override the ticket state values; they are compared with the
 * state's category, internal label and id, so a custom state can be named.
 *
 * The ticket reference is the ticket's `ticket_id`, "the ID of the Ticket used in the Intercom Inbox
 * and Messenger" (the number agents and customers see); the item `id` is an internal id. For a
 * conversation it is its `id`, the number in the inbox URL. The email is the first contact's, when
 * the payload carries one (ticket contacts are often bare references: then the lookup goes by the
 * ticket reference alone).
 */
const DEFAULT_CLOSED = ['resolved'];
const DEFAULT_REOPENED = ['submitted', 'in_progress', 'waiting_on_customer'];

/** A SHA-1 digest in hex, with its prefix. */
const SIGNATURE_FORMAT = /^sha1=[0-9a-fA-F]{40}$/;

export const intercom: SourcePreset = {
  type: 'intercom',
  authenticate(request, settings) {
    const [header] = requireHeaders(request.headers, ['x-hub-signature']);
    if (!SIGNATURE_FORMAT.test(header)) {
      throw new SourceError('INVALID_SIGNATURE_HEADERS', 'X-Hub-Signature must be sha1= and a hex HMAC-SHA1');
    }
    const received = header.toLowerCase();
    const matched = matchesAnySecret(
      settings.secrets,
      received,
      (secret) => `sha1=${hmac('sha1', secret, request.rawBody, 'hex')}`,
    );
    if (!matched) throw invalidSignature('X-Hub-Signature');
  },
  map(body, request, settings) {
    const topic = stringField(body, 'topic');
    if (field(body, 'type') !== 'notification_event' || !topic) {
      throw invalidBody('An Intercom webhook is a notification_event with a topic');
    }
    const item = field(body, 'data', 'item');
    const decided = decide(topic, item, settings);
    if (decided.kind === 'ignored') return decided;
    if (typeof item !== 'object' || item === null)
      throw invalidBody(`A ${topic} notification needs data.item`);

    const ticketId =
      decided.itemType === 'ticket'
        ? (stringField(item, 'ticket_id') ?? stringField(item, 'id'))
        : stringField(item, 'id');
    if (!ticketId) throw invalidBody(`The ${decided.itemType} of a ${topic} notification has no id`);
    const updatedAt = stringField(item, 'updated_at') ?? stringField(body, 'created_at');
    const event = buildEvent(
      {
        type: decided.type,
        occurredAt: parseTime(updatedAt) ?? request.receivedAt,
        ticketId,
        email: stringField(item, 'contacts', 'contacts', 0, 'email'),
      },
      settings,
    );
    const notificationId = stringField(body, 'id');
    const key = notificationId
      ? deliveryKey(notificationId)
      : deliveryKey(
          `${ticketId}:${decided.value}:${updatedAt ?? createHash('sha256').update(request.rawBody).digest('hex').slice(0, 32)}`,
        );
    return { kind: 'events', events: [{ idempotencyKey: key, event }], ignored: [] };
  },
};

type Decision =
  | { kind: 'ignored'; reason: string }
  | {
      kind: 'event';
      type: 'ticket.closed' | 'ticket.reopened';
      itemType: 'ticket' | 'conversation';
      /** What decided it, for the fallback key. */
      value: string;
    };

function decide(topic: string, item: unknown, settings: SourceSettings): Decision {
  if (topic === 'conversation.admin.closed') {
    return { kind: 'event', type: 'ticket.closed', itemType: 'conversation', value: 'closed' };
  }
  if (topic === 'conversation.admin.opened') {
    return { kind: 'event', type: 'ticket.reopened', itemType: 'conversation', value: 'opened' };
  }
  if (topic !== 'ticket.state.updated') {
    return { kind: 'ignored', reason: `Intercom topic "${topic.slice(0, 64)}" neither closes nor reopens` };
  }
  const state = field(item, 'ticket_state');
  const names = (
    typeof state === 'string'
      ? [state]
      : [stringField(state, 'category'), stringField(state, 'internal_label'), stringField(state, 'id')]
  )
    .filter((name): name is string => name !== undefined && name.trim() !== '')
    .map((name) => name.trim().toLowerCase());
  if (names.length === 0)
    throw invalidBody('A ticket.state.updated notification needs data.item.ticket_state');
  const closed = (settings.states.closed ?? DEFAULT_CLOSED).map((value) => value.toLowerCase());
  const reopened = (settings.states.reopened ?? DEFAULT_REOPENED).map((value) => value.toLowerCase());
  const [category = ''] = names;
  if (names.some((name) => closed.includes(name))) {
    return { kind: 'event', type: 'ticket.closed', itemType: 'ticket', value: category };
  }
  if (names.some((name) => reopened.includes(name))) {
    return { kind: 'event', type: 'ticket.reopened', itemType: 'ticket', value: category };
  }
  return { kind: 'ignored', reason: `ticket state "${category.slice(0, 64)}" neither closes nor reopens` };
}
