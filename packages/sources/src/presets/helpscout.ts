import { createHash } from 'node:crypto';
import { hmac, invalidSignature, matchesAnySecret, readHeader, requireHeaders } from '../crypto.js';
import { buildEvent, deliveryKey, field, invalidBody, stringField, type SourcePreset } from '../preset.js';
import { SourceError } from '../source-error.js';
import { parseTime } from '../template-body.js';

/**
 * Help Scout (docs/senders/helpscout.md), https://developer.helpscout.com/webhooks/ :
 * `X-HelpScout-Signature` = base64(HMAC-SHA1(the webhook's secret key, raw body)), the event name in
 * `X-HelpScout-Event`. Hand-written: Help Scout publishes no verifier (its page shows a few lines of
 * PHP, Ruby and Python) and @octokit/webhooks-methods does hex SHA-256 only. No timestamp is sent,
 * so there is no window: a replay is a duplicate (same key) or loses to newer state (docs/ordering.md).
 *
 * Only `convo.status` matters; its body is the v2 conversation
 * (https://developer.helpscout.com/mailbox-api/endpoints/conversations/get/): `status` closed →
 * close; active or pending → reopen (the body does not say the previous status, so active ↔ pending
 * also arrives as a reopen: the worker then finds the task already open and leaves it, see
 * apps/worker/src/task-matcher.ts); spam and anything else are ignored. `states.closed` /
 * `states.reopened` override those `status` values.
 *
 * The ticket reference is the conversation `number`, the "#123" agents see in the UI; the email is
 * `primaryCustomer.email`. Help Scout sends no delivery id: the key is conversation id + status +
 * the conversation's latest timestamp.
 */
const DEFAULT_CLOSED = ['closed'];
const DEFAULT_REOPENED = ['active', 'pending'];
const STATUS_EVENT = 'convo.status';

/** A SHA-1 digest in base64: 27 characters and one "=". */
const SIGNATURE_FORMAT = /^[A-Za-z0-9+/]{27}=$/;

export const helpscout: SourcePreset = {
  type: 'helpscout',
  authenticate(request, settings) {
    const [signature] = requireHeaders(request.headers, ['x-helpscout-signature']);
    if (!SIGNATURE_FORMAT.test(signature)) {
      throw new SourceError('INVALID_SIGNATURE_HEADERS', 'X-HelpScout-Signature must be a base64 HMAC-SHA1');
    }
    const matched = matchesAnySecret(settings.secrets, signature, (secret) =>
      hmac('sha1', secret, request.rawBody, 'base64'),
    );
    if (!matched) throw invalidSignature('X-HelpScout-Signature');
  },
  map(body, request, settings) {
    const event = readHeader(request.headers, 'x-helpscout-event');
    if (event === undefined) throw invalidBody('Help Scout deliveries carry X-HelpScout-Event');
    if (event !== STATUS_EVENT) {
      return { kind: 'ignored', reason: `Help Scout event "${event.slice(0, 64)}" is not ${STATUS_EVENT}` };
    }
    const id = stringField(body, 'id');
    const number = stringField(body, 'number');
    const status = stringField(body, 'status')?.trim();
    if (!id || !number || !status) {
      throw invalidBody('A convo.status body is a conversation with id, number and status');
    }
    const normalised = status.toLowerCase();
    const closed = (settings.states.closed ?? DEFAULT_CLOSED).map((value) => value.toLowerCase());
    const reopened = (settings.states.reopened ?? DEFAULT_REOPENED).map((value) => value.toLowerCase());
    const type = closed.includes(normalised)
      ? 'ticket.closed'
      : reopened.includes(normalised)
        ? 'ticket.reopened'
        : undefined;
    if (type === undefined) {
      return { kind: 'ignored', reason: `status "${status.slice(0, 64)}" neither closes nor reopens` };
    }

    const closedAt = timeField(body, 'closedAt');
    const touchedAt = latest(
      timeField(body, 'userUpdatedAt'),
      timeField(body, 'customerWaitingSince', 'time'),
    );
    // A close happened at closedAt. A reopen happened after the close, but a customer's reply that
    // reopens a conversation may leave userUpdatedAt behind the old closedAt (the field follows the
    // agents' actions): such a time would lose to the close in the ordering guard, so the receive
    // time stands in for it.
    const occurredAt =
      type === 'ticket.closed'
        ? (closedAt ?? touchedAt ?? request.receivedAt)
        : touchedAt !== undefined && (closedAt === undefined || touchedAt > closedAt)
          ? touchedAt
          : request.receivedAt;
    const updatedAt = latest(closedAt, touchedAt);

    const mapped = buildEvent(
      {
        type,
        occurredAt,
        ticketId: number,
        ticketUrl: conversationUrl(id, number),
        email: stringField(body, 'primaryCustomer', 'email'),
      },
      settings,
    );
    const when =
      updatedAt?.toISOString() ?? createHash('sha256').update(request.rawBody).digest('hex').slice(0, 32);
    return {
      kind: 'events',
      events: [{ idempotencyKey: deliveryKey(`${id}:${normalised}:${when}`), event: mapped }],
      ignored: [],
    };
  },
};

/**
 * The conversation's page, as the Help Scout docs build it from id and number. None for an id that
 * is no URL text (a lone surrogate, on which encodeURIComponent throws): the link is optional.
 */
function conversationUrl(id: string, number: string): string | undefined {
  try {
    return `https://secure.helpscout.net/conversation/${encodeURIComponent(id)}/${encodeURIComponent(number)}/`;
  } catch {
    return undefined;
  }
}

function timeField(body: unknown, ...path: string[]): Date | undefined {
  const value = field(body, ...path);
  return typeof value === 'string' || typeof value === 'number' ? parseTime(value) : undefined;
}

function latest(...dates: (Date | undefined)[]): Date | undefined {
  const known = dates.filter((date): date is Date => date !== undefined);
  return known.length === 0 ? undefined : new Date(Math.max(...known.map((date) => date.getTime())));
}
