import { hmac, invalidSignature, matchesAnySecret, readHeader, requireHeaders } from '../crypto.js';
import { buildEvent, field, invalidBody, stringField, type SourcePreset } from '../preset.js';
import { SourceError } from '../source-error.js';
import { deliveryKey } from './github.js';

/**
 * Linear issues (docs/senders/linear.md).
 *
 * Scheme (https://linear.app/developers/webhooks, "Securing webhooks"): `Linear-Signature` is the bare
 * hex HMAC-SHA256 of the raw body with the webhook's signing secret, and the body's `webhookTimestamp`
 * (Unix ms) should be within a minute of the receiver's clock, against replays. Headers also carry
 * `Linear-Delivery` (a UUID per delivery: the idempotency key) and `Linear-Event` (the entity type).
 * Written here rather than with `@linear/sdk`'s `LinearWebhookClient.verify` because the SDK (a whole
 * GraphQL client) is not a dependency, and the scheme is one HMAC over the raw bytes.
 *
 * Payload: `{action: "create"|"update"|"remove", type: "Issue", data: {identifier, url, updatedAt,
 * state: {type, name}}, updatedFrom: {<previous values of the changed fields>}, url,
 * webhookTimestamp}`. State types are triage, backlog, unstarted, started, completed, canceled
 * (https://linear.app/docs/configuring-workflows). No requester email: the worker matches by the
 * identifier alone.
 *
 * Close: an update that changes the state (`updatedFrom.stateId` present) to a state whose type is in
 * `settings.states.closed` (default completed, canceled). Reopen: a state change to any other type,
 * from a done issue: `updatedFrom.completedAt` or `updatedFrom.canceledAt` held a time (Linear clears
 * them when the issue leaves a completed / canceled state, so their previous value is in
 * updatedFrom). `settings.states.reopened` is not used.
 */
const DEFAULT_CLOSED_STATE_TYPES = ['completed', 'canceled'];
/** "Reject webhooks whose timestamp is more than a minute off" (Linear, "Securing webhooks"). */
export const LINEAR_TIMESTAMP_TOLERANCE_MS = 60_000;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export const linear: SourcePreset = {
  type: 'linear',
  authenticate(request, settings) {
    const [signature] = requireHeaders(request.headers, ['linear-signature']);
    const received = signature.trim();
    if (!/^[0-9a-fA-F]{64}$/.test(received)) {
      throw new SourceError('INVALID_SIGNATURE_HEADERS', 'Linear-Signature must be 64 hex digits');
    }
    const genuine = matchesAnySecret(settings.secrets, received.toLowerCase(), (secret) =>
      hmac('sha256', secret, request.rawBody, 'hex'),
    );
    if (!genuine) throw invalidSignature('Linear-Signature');
    // The replay guard lives in the signed body, so it is read only once the body is known genuine.
    const timestamp = field(parseJson(request.rawBody), 'webhookTimestamp');
    if (timestamp === undefined) {
      throw new SourceError('MISSING_SIGNATURE_HEADERS', 'The body has no webhookTimestamp');
    }
    if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp)) {
      throw new SourceError('INVALID_SIGNATURE_HEADERS', 'webhookTimestamp must be Unix milliseconds');
    }
    if (Math.abs(request.receivedAt.getTime() - timestamp) > LINEAR_TIMESTAMP_TOLERANCE_MS) {
      throw new SourceError('SIGNATURE_EXPIRED', 'webhookTimestamp is more than 60 s from the receive time');
    }
  },
  map(body, request, settings) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw invalidBody('A Linear delivery is a JSON object');
    }
    const entity = stringField(body, 'type');
    const action = stringField(body, 'action');
    if (entity === undefined || action === undefined)
      throw invalidBody('A Linear delivery needs type and action');
    if (entity !== 'Issue')
      return { kind: 'ignored', reason: `Linear ${entity.slice(0, 64)} event is not about an issue` };
    if (action !== 'update')
      return { kind: 'ignored', reason: `Linear issue action "${action.slice(0, 64)}" is not an update` };
    const identifier = stringField(body, 'data', 'identifier');
    const stateType = stringField(body, 'data', 'state', 'type');
    if (identifier === undefined || identifier.trim() === '' || stateType === undefined) {
      throw invalidBody('A Linear issue update needs data.identifier and data.state.type');
    }
    const updatedFrom = field(body, 'updatedFrom');
    if (stringField(updatedFrom, 'stateId') === undefined) {
      return { kind: 'ignored', reason: 'the update does not change the state' };
    }
    const closedTypes = (settings.states.closed ?? DEFAULT_CLOSED_STATE_TYPES).map((value) =>
      value.toLowerCase(),
    );
    const wasDone =
      typeof field(updatedFrom, 'completedAt') === 'string' ||
      typeof field(updatedFrom, 'canceledAt') === 'string';
    const type = closedTypes.includes(stateType.toLowerCase())
      ? 'ticket.closed'
      : wasDone
        ? 'ticket.reopened'
        : undefined;
    if (type === undefined) {
      return { kind: 'ignored', reason: `state type "${stateType.slice(0, 64)}" neither closes nor reopens` };
    }
    const updatedAt = stringField(body, 'data', 'updatedAt');
    const webhookTimestamp = field(body, 'webhookTimestamp');
    const occurredAt =
      updatedAt !== undefined && !Number.isNaN(Date.parse(updatedAt))
        ? updatedAt
        : typeof webhookTimestamp === 'number'
          ? webhookTimestamp
          : request.receivedAt;
    const event = buildEvent(
      {
        type,
        occurredAt,
        ticketId: identifier,
        ticketUrl: stringField(body, 'data', 'url') ?? stringField(body, 'url'),
      },
      settings,
    );
    const delivery = readHeader(request.headers, 'linear-delivery');
    const idempotencyKey = deliveryKey(
      delivery ?? `${identifier}:${stateType}:${updatedAt ?? String(webhookTimestamp)}`,
    );
    return { kind: 'events', events: [{ idempotencyKey, event }], ignored: [] };
  },
};

/** The signed body as JSON; strict UTF-8 (no silent U+FFFD), as the receiver parses it (json-body.ts). */
function parseJson(rawBody: Buffer): unknown {
  try {
    return JSON.parse(strictUtf8.decode(rawBody)) as unknown;
  } catch {
    throw new SourceError('INVALID_JSON', 'The body is not valid UTF-8 JSON');
  }
}
