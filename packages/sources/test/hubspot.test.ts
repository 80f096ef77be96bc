import { describe, expect, it } from '@jest/globals';
import type { SourceRequest } from '../src/index.js';
import { decodeHubSpotUri, hubspotRequestUri } from '../src/presets/hubspot.js';
import { hubspotDelivery, readHubspotFixture, signHubspot } from './fixtures/hubspot.js';
import { codeOf, NOW, presetUnderTest } from './support.js';

const SECRET = 'yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy';
const PUBLIC = 'https://hooks.example.com/webhooks/hubspot';
const { preset, settings, request, deliver } = presetUnderTest('hubspot', { secret: SECRET });

/** Behind a proxy: HubSpot called https://hooks.example.com{path}; signed for that URL. */
function signed(
  body: unknown,
  options: { secret?: string; ageMs?: number; path?: string; signedUrl?: string } = {},
): SourceRequest {
  const raw = JSON.stringify(body);
  const path = options.path ?? '/webhooks/hubspot';
  const timestamp = String(NOW.getTime() - (options.ageMs ?? 2_000));
  return request(
    raw,
    {
      host: 'receiver:3000',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'hooks.example.com',
      'content-type': 'application/json',
      'x-hubspot-request-timestamp': timestamp,
      'x-hubspot-signature-v3': signHubspot(
        options.secret ?? SECRET,
        'POST',
        options.signedUrl ?? `https://hooks.example.com${path}`,
        raw,
        timestamp,
      ),
    },
    { url: path },
  );
}

describe('hubspot preset', () => {
  it('When a batch holds a close, a reopen and two other events, then one event each for the close and the reopen, the others listed as ignored', () => {
    expect(deliver(signed(readHubspotFixture('ticket-batch')))).toEqual({
      kind: 'events',
      events: [
        {
          idempotencyKey: '62515:1246965:3816279340',
          event: {
            type: 'ticket.closed',
            occurredAt: new Date(1462216307945).toISOString(),
            ticket: { id: '1246965' },
          },
        },
        {
          idempotencyKey: '62515:1246966:3816279341',
          event: {
            type: 'ticket.reopened',
            occurredAt: new Date(1462216307990).toISOString(),
            ticket: { id: '1246966' },
          },
        },
      ],
      ignored: [
        { index: 2, reason: 'ticket property "subject" is not hs_pipeline_stage' },
        { index: 3, reason: 'contact.creation is not a ticket property change' },
      ],
    });
  });

  it('When HubSpot retries the batch (attemptNumber 1), then the keys are the same', () => {
    const batch = readHubspotFixture('ticket-batch') as Record<string, unknown>[];
    const retry = batch.map((element) => ({ ...element, attemptNumber: 1 }));
    const keys = (body: unknown) => {
      const result = deliver(signed(body));
      return result.kind === 'events' ? result.events.map((event) => event.idempotencyKey) : [];
    };
    expect(keys(retry)).toEqual(keys(batch));
  });

  it('When custom pipeline stages are configured, then they decide, and the defaults no longer apply', () => {
    const [close] = readHubspotFixture('ticket-batch') as Record<string, unknown>[];
    const custom = settings({ states: { closed: ['99'], reopened: ['98'] } });
    expect(deliver(signed([close]), custom)).toEqual({
      kind: 'ignored',
      reason: 'pipeline stage "4" neither closes nor reopens',
    });
    const result = deliver(signed([{ ...close, propertyValue: '99' }]), custom);
    expect(result.kind === 'events' && result.events[0]?.event.type).toBe('ticket.closed');
  });

  it('When nothing in the batch closes or reopens, then the delivery is ignored with a reason', () => {
    expect(deliver(signed(readHubspotFixture('contact-property-change')))).toEqual({
      kind: 'ignored',
      reason: 'contact.propertyChange is not a ticket property change',
    });
  });

  it('When the builder makes a delivery for the URL the receiver is at, then the preset maps it back to the ticket id', () => {
    for (const closed of [true, false]) {
      const delivery = hubspotDelivery({
        secret: SECRET,
        ticketRef: '4711',
        closed,
        now: NOW,
        url: 'http://127.0.0.1:3000/webhooks/hubspot',
      });
      const result = deliver(request(delivery.body, { ...delivery.headers, host: '127.0.0.1:3000' }));
      expect(result.kind === 'events' && result.events[0]?.event).toEqual({
        type: closed ? 'ticket.closed' : 'ticket.reopened',
        occurredAt: NOW.toISOString(),
        ticket: { id: '4711' },
      });
    }
  });

  it('When publicUrl is set, then it is the signed URL (with the request query appended), whatever the forwarded headers say', () => {
    const body = readHubspotFixture('ticket-batch');
    const req = signed(body, {
      path: '/webhooks/hubspot?portal=62515',
      signedUrl: `${PUBLIC}?portal=62515`,
    });
    const behindRewrite = {
      ...req,
      url: '/internal/hubspot?portal=62515',
      headers: { ...req.headers, 'x-forwarded-host': 'lb.internal' },
    };
    expect(codeOf(() => preset.authenticate(behindRewrite, settings()))).toBe('INVALID_SIGNATURE');
    expect(() => preset.authenticate(behindRewrite, settings({ publicUrl: PUBLIC }))).not.toThrow();
    expect(hubspotRequestUri({ url: '/x?a=1', headers: {} }, { publicUrl: `${PUBLIC}?fixed=1` })).toBe(
      `${PUBLIC}?fixed=1`,
    );
  });

  it("When the URI has encoded characters, then exactly HubSpot's twelve are decoded, once", () => {
    expect(decodeHubSpotUri('https://h/p%3Aq%2Fr?s=%40%21%24%27%28%29%2a%2C%3B%3F')).toBe(
      "https://h/p:q/r?s=@!$'()*,;?",
    );
    expect(decodeHubSpotUri('https://h/p?q=a%20b%26c%253A')).toBe('https://h/p?q=a%20b%26c%253A');
    const body = readHubspotFixture('ticket-batch');
    // HubSpot called .../hubspot?email=a%40b.com and signed it decoded: ...?email=a@b.com
    const req = signed(body, {
      path: '/webhooks/hubspot?email=a%40b.com',
      signedUrl: 'https://hooks.example.com/webhooks/hubspot?email=a@b.com',
    });
    expect(() => preset.authenticate(req, settings())).not.toThrow();
  });

  it('When the timestamp is older than 5 minutes, or as far ahead, then SIGNATURE_EXPIRED', () => {
    const body = readHubspotFixture('ticket-batch');
    expect(codeOf(() => preset.authenticate(signed(body, { ageMs: 300_001 }), settings()))).toBe(
      'SIGNATURE_EXPIRED',
    );
    expect(codeOf(() => preset.authenticate(signed(body, { ageMs: -300_001 }), settings()))).toBe(
      'SIGNATURE_EXPIRED',
    );
    expect(() => preset.authenticate(signed(body, { ageMs: 299_000 }), settings())).not.toThrow();
  });

  it('When the secret is rotated, then the second secret verifies; a wrong one, or a changed body, is INVALID_SIGNATURE', () => {
    const body = readHubspotFixture('ticket-batch');
    const rotated = settings({ secrets: [SECRET, 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz'] });
    expect(() =>
      preset.authenticate(signed(body, { secret: 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz' }), rotated),
    ).not.toThrow();
    expect(
      codeOf(() =>
        preset.authenticate(signed(body, { secret: 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx' }), settings()),
      ),
    ).toBe('INVALID_SIGNATURE');
    const changed = { ...signed(body), rawBody: Buffer.from(JSON.stringify(body).replace('"4"', '"1"')) };
    expect(codeOf(() => preset.authenticate(changed, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When the headers are missing or malformed, then MISSING_ / INVALID_SIGNATURE_HEADERS', () => {
    const req = signed(readHubspotFixture('ticket-batch'));
    const without = (name: string): SourceRequest => {
      const headers = { ...req.headers };
      delete headers[name];
      return { ...req, headers };
    };
    expect(codeOf(() => preset.authenticate(without('x-hubspot-signature-v3'), settings()))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
    expect(codeOf(() => preset.authenticate(without('x-hubspot-request-timestamp'), settings()))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
    const seconds = {
      ...req,
      headers: { ...req.headers, 'x-hubspot-request-timestamp': '2026-11-28T10:00:00Z' },
    };
    expect(codeOf(() => preset.authenticate(seconds, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
    const hex = { ...req, headers: { ...req.headers, 'x-hubspot-signature-v3': 'ab'.repeat(32) } };
    expect(codeOf(() => preset.authenticate(hex, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
    const noHost = {
      ...req,
      headers: Object.fromEntries(
        Object.entries(req.headers).filter(([name]) => !['host', 'x-forwarded-host'].includes(name)),
      ),
    };
    expect(codeOf(() => preset.authenticate(noHost, settings()))).toBe('MISSING_SIGNATURE_HEADERS');
  });

  it('When a genuine body is not a HubSpot event array, then INVALID_BODY', () => {
    const req = signed([]);
    expect(codeOf(() => preset.map({ eventId: 1 }, req, settings()))).toBe('INVALID_BODY');
    expect(codeOf(() => preset.map([], req, settings()))).toBe('INVALID_BODY');
    expect(codeOf(() => preset.map([{ subscriptionType: 'ticket.propertyChange' }], req, settings()))).toBe(
      'INVALID_BODY',
    );
    const noObject = {
      eventId: 1,
      subscriptionType: 'ticket.propertyChange',
      propertyName: 'hs_pipeline_stage',
      propertyValue: '4',
      occurredAt: 1,
    };
    expect(codeOf(() => preset.map([noObject], req, settings()))).toBe('INVALID_BODY');
  });
});
