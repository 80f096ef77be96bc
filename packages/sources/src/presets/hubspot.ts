import { hmac, invalidSignature, matchesAnySecret, readHeader, requireHeaders } from '../crypto.js';
import {
  buildEvent,
  field,
  invalidBody,
  stringField,
  type MappedEvent,
  type SourcePreset,
  type SourceRequest,
  type SourceSettings,
} from '../preset.js';
import { SourceError } from '../source-error.js';
import { deliveryKey } from './github.js';

/**
 * HubSpot Webhooks API, ticket pipeline stages (docs/senders/hubspot.md).
 *
 * Scheme, v3 ("Validate the v3 request signature",
 * https://developers.hubspot.com/docs/api/webhooks/validating-requests): `X-HubSpot-Signature-v3` is
 * base64 HMAC-SHA256(app client secret, method + URI + raw body + `X-HubSpot-Request-Timestamp`),
 * the timestamp in Unix ms; "reject the request if the timestamp is older than 5 minutes". In the URI,
 * the percent-encodings HubSpot lists are decoded before signing (%3A : %2F / %3F ? %40 @ %21 ! %24 $
 * %27 ' %28 ( %29 ) %2A * %2C , %3B ;); any other stays encoded. Written here rather than with
 * `@hubspot/api-client`'s `Signature.isValid`: that SDK is not a dependency, and its helper neither
 * decodes the URI nor compares in constant time (hookdeck/webhook-skills
 * skills/hubspot-webhooks/references/verification.md).
 *
 * The URI is the URL HubSpot called. With `settings.publicUrl` (the source's URL as HubSpot knows it,
 * because a proxy may rewrite scheme, host or path): that URL, plus `?` and the request's query
 * string when the request has one and publicUrl has none. Without it: `X-Forwarded-Proto` (first
 * value, else `http`) + `://` + `X-Forwarded-Host` (first value, else `Host`) + the path and query
 * as received. Trusting the forwarded headers is safe here: they only choose which URL the
 * signature is checked against, and a forged one still needs the client secret.
 *
 * Payload (https://developers.hubspot.com/docs/api/webhooks, "Webhook payloads"): a JSON array of up
 * to 100 events `{eventId, subscriptionId, portalId, appId, occurredAt (ms), subscriptionType,
 * attemptNumber, objectId, propertyName, propertyValue, changeSource}`. A `ticket.propertyChange` of
 * `hs_pipeline_stage` closes when the new stage id is in `settings.states.closed` (default "4",
 * Closed in the default support pipeline: 1 New, 2 Waiting on contact, 3 Waiting on us, 4 Closed)
 * and reopens when in `settings.states.reopened` (default 1, 2, 3). Stage ids of custom pipelines
 * differ: set both lists. Each element is its own event; no email (the worker matches by ticket id).
 */
const DEFAULT_CLOSED_STAGES = ['4'];
const DEFAULT_REOPENED_STAGES = ['1', '2', '3'];
export const HUBSPOT_TIMESTAMP_TOLERANCE_MS = 5 * 60_000;
/** SHA-256 is 32 bytes: 44 base64 characters, one `=` of padding. */
const BASE64_SHA256 = /^[A-Za-z0-9+/]{43}=$/;

export const hubspot: SourcePreset = {
  type: 'hubspot',
  authenticate(request, settings) {
    const [signature, timestamp] = requireHeaders(request.headers, [
      'x-hubspot-signature-v3',
      'x-hubspot-request-timestamp',
    ]);
    if (!/^\d{1,16}$/.test(timestamp)) {
      throw new SourceError(
        'INVALID_SIGNATURE_HEADERS',
        'X-HubSpot-Request-Timestamp must be Unix milliseconds',
      );
    }
    if (!BASE64_SHA256.test(signature.trim())) {
      throw new SourceError(
        'INVALID_SIGNATURE_HEADERS',
        'X-HubSpot-Signature-v3 must be a base64 SHA-256 HMAC',
      );
    }
    const signed = hubspotSignedContent(
      request.method,
      hubspotRequestUri(request, settings),
      request.rawBody,
      timestamp,
    );
    if (
      !matchesAnySecret(settings.secrets, signature.trim(), (secret) =>
        hmac('sha256', secret, signed, 'base64'),
      )
    ) {
      throw invalidSignature('X-HubSpot-Signature-v3');
    }
    // HubSpot only says "older than 5 minutes"; a time as far ahead is refused too (a clock off by
    // that much, or a value chosen to outlive the window).
    if (Math.abs(request.receivedAt.getTime() - Number(timestamp)) > HUBSPOT_TIMESTAMP_TOLERANCE_MS) {
      throw new SourceError(
        'SIGNATURE_EXPIRED',
        'X-HubSpot-Request-Timestamp is more than 5 minutes from the receive time',
      );
    }
  },
  map(body, _request, settings) {
    if (!Array.isArray(body) || body.length === 0) {
      throw invalidBody('A HubSpot delivery is a non-empty JSON array of events');
    }
    const closed = settings.states.closed ?? DEFAULT_CLOSED_STAGES;
    const reopened = settings.states.reopened ?? DEFAULT_REOPENED_STAGES;
    const events: MappedEvent[] = [];
    const ignored: { index: number; reason: string }[] = [];
    (body as unknown[]).forEach((element, index) => {
      const eventId = stringField(element, 'eventId');
      const subscriptionType = stringField(element, 'subscriptionType');
      if (
        typeof element !== 'object' ||
        element === null ||
        eventId === undefined ||
        subscriptionType === undefined
      ) {
        throw invalidBody(`Element ${index} is not a HubSpot event (eventId and subscriptionType)`);
      }
      if (subscriptionType !== 'ticket.propertyChange') {
        ignored.push({ index, reason: `${subscriptionType.slice(0, 64)} is not a ticket property change` });
        return;
      }
      const propertyName = stringField(element, 'propertyName') ?? '';
      if (propertyName !== 'hs_pipeline_stage') {
        ignored.push({
          index,
          reason: `ticket property "${propertyName.slice(0, 64)}" is not hs_pipeline_stage`,
        });
        return;
      }
      const stage = stringField(element, 'propertyValue') ?? '';
      const type = closed.includes(stage)
        ? 'ticket.closed'
        : reopened.includes(stage)
          ? 'ticket.reopened'
          : undefined;
      if (type === undefined) {
        ignored.push({ index, reason: `pipeline stage "${stage.slice(0, 64)}" neither closes nor reopens` });
        return;
      }
      const objectId = stringField(element, 'objectId');
      const occurredAt = field(element, 'occurredAt');
      if (objectId === undefined || typeof occurredAt !== 'number' || !Number.isFinite(occurredAt)) {
        throw invalidBody(`Element ${index} needs objectId and occurredAt (Unix ms)`);
      }
      const event = buildEvent({ type, occurredAt, ticketId: objectId }, settings);
      // A retry resends the same eventId (attemptNumber counts up). Portal and object go in the key
      // too: the eventId alone is not documented as unique across portals of one app.
      const portalId = stringField(element, 'portalId') ?? '';
      events.push({ idempotencyKey: deliveryKey(`${portalId}:${objectId}:${eventId}`), event });
    });
    if (events.length === 0) {
      return {
        kind: 'ignored',
        reason:
          ignored.length === 1 && ignored[0]
            ? ignored[0].reason
            : `none of the ${ignored.length} events closes or reopens a ticket`,
      };
    }
    return { kind: 'events', events, ignored };
  },
};

/** HubSpot's v3 source string, as bytes: the body exactly as received, never re-encoded. */
export function hubspotSignedContent(
  method: string,
  uri: string,
  rawBody: Buffer,
  timestamp: string,
): Buffer {
  return Buffer.concat([
    Buffer.from(`${method.toUpperCase()}${uri}`, 'utf8'),
    rawBody,
    Buffer.from(timestamp, 'utf8'),
  ]);
}

/** The URI HubSpot signed (see the header comment for the rule), with HubSpot's decodings applied. */
export function hubspotRequestUri(
  request: Pick<SourceRequest, 'url' | 'headers'>,
  settings: Pick<SourceSettings, 'publicUrl'>,
): string {
  const queryStart = request.url.indexOf('?');
  const query = queryStart === -1 ? '' : request.url.slice(queryStart);
  let uri: string;
  if (settings.publicUrl !== undefined) {
    uri = settings.publicUrl.includes('?') ? settings.publicUrl : settings.publicUrl + query;
  } else {
    const first = (name: string): string | undefined =>
      readHeader(request.headers, name)?.split(',')[0]?.trim() || undefined;
    const host = first('x-forwarded-host') ?? first('host');
    if (host === undefined) {
      throw new SourceError(
        'MISSING_SIGNATURE_HEADERS',
        'Missing headers: Host (set publicUrl for this source)',
      );
    }
    uri = `${first('x-forwarded-proto') ?? 'http'}://${host}${request.url}`;
  }
  return decodeHubSpotUri(uri);
}

const HUBSPOT_DECODED: Record<string, string> = {
  '3A': ':',
  '2F': '/',
  '3F': '?',
  '40': '@',
  '21': '!',
  '24': '$',
  '27': "'",
  '28': '(',
  '29': ')',
  '2A': '*',
  '2C': ',',
  '3B': ';',
};

/** One pass, so `%253A` stays `%253A` (HubSpot decodes those twelve, once). */
export function decodeHubSpotUri(uri: string): string {
  return uri.replace(
    /%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)/gi,
    (_match, hex: string) => HUBSPOT_DECODED[hex.toUpperCase()] ?? _match,
  );
}
