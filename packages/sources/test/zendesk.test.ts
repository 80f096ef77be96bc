import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import type { SourceRequest } from '../src/index.js';
import { readZendeskFixture, zendeskDelivery, zendeskHeaders, zendeskSignature } from './fixtures/zendesk.js';
import { codeOf, NOW, onlyEvent, presetUnderTest } from './support.js';

const SECRET = 'zd-signing-secret-0123456789';
const TIMESTAMP = '2024-04-17T17:18:10Z';
/** Zendesk's fixed secret for test deliveries (fixtures/zendesk/SOURCE.md). */
const ZENDESK_TEST_SECRET = 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==';
const { preset, settings, request, deliver } = presetUnderTest('zendesk', { secret: SECRET });

function signed(body: string, secret = SECRET, timestamp = TIMESTAMP): SourceRequest {
  return request(body, zendeskHeaders(secret, body, timestamp));
}

const triggerBody = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ ...readZendeskFixture('trigger-solved'), ...fields });
const eventBody = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ ...readZendeskFixture('event-status-changed'), ...fields });

describe('zendesk: the signature', () => {
  it('When a delivery is signed with the webhook secret over timestamp + body, then it is genuine', () => {
    const req = signed(triggerBody());
    expect(() => preset.authenticate(req, settings())).not.toThrow();
  });

  it("When Zendesk's test delivery is signed with its fixed test secret, then a source holding that secret accepts it", () => {
    const body = triggerBody();
    const req = request(body, {
      'content-type': 'application/json',
      'x-zendesk-webhook-signature-timestamp': TIMESTAMP,
      'x-zendesk-webhook-signature': createHmac('sha256', ZENDESK_TEST_SECRET)
        .update(TIMESTAMP + body)
        .digest('base64'),
    });
    expect(() => preset.authenticate(req, settings({ secrets: [ZENDESK_TEST_SECRET] }))).not.toThrow();
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE');
  });

  it("When the old docs' example (signed body + timestamp) is checked, then it is refused: the current docs sign timestamp + body", () => {
    const example = readZendeskFixture('signature-example') as {
      secret: string;
      timestamp: string;
      body: string;
      signature: string;
    };
    const req = request(example.body, {
      'x-zendesk-webhook-signature-timestamp': example.timestamp,
      'x-zendesk-webhook-signature': example.signature,
    });
    // The example's signature is the reverse order, which is what makes the old page inconsistent.
    expect(
      createHmac('sha256', example.secret)
        .update(example.body + example.timestamp)
        .digest('base64'),
    ).toBe(example.signature);
    expect(codeOf(() => preset.authenticate(req, settings({ secrets: [example.secret] })))).toBe(
      'INVALID_SIGNATURE',
    );
  });

  it('When the body was changed after signing, then INVALID_SIGNATURE', () => {
    const req = signed(triggerBody());
    const tampered = { ...req, rawBody: Buffer.from(triggerBody({ ticket_id: '4712' })) };
    expect(codeOf(() => preset.authenticate(tampered, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When the timestamp header was changed after signing, then INVALID_SIGNATURE', () => {
    const req = signed(triggerBody());
    req.headers['x-zendesk-webhook-signature-timestamp'] = '2024-04-17T17:18:11Z';
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When it is signed with another secret, then INVALID_SIGNATURE', () => {
    expect(
      codeOf(() => preset.authenticate(signed(triggerBody(), 'another-secret-0123456789'), settings())),
    ).toBe('INVALID_SIGNATURE');
  });

  it('When the secret is being rotated, then a delivery signed with either secret is genuine', () => {
    const rotating = settings({ secrets: ['old-secret-0123456789abc', SECRET] });
    expect(() => preset.authenticate(signed(triggerBody()), rotating)).not.toThrow();
    expect(() =>
      preset.authenticate(signed(triggerBody(), 'old-secret-0123456789abc'), rotating),
    ).not.toThrow();
  });

  it('When the signature or the timestamp header is missing, then MISSING_SIGNATURE_HEADERS', () => {
    const body = triggerBody();
    const withoutSignature = signed(body);
    delete withoutSignature.headers['x-zendesk-webhook-signature'];
    const withoutTimestamp = signed(body);
    delete withoutTimestamp.headers['x-zendesk-webhook-signature-timestamp'];
    expect(codeOf(() => preset.authenticate(withoutSignature, settings()))).toBe('MISSING_SIGNATURE_HEADERS');
    expect(codeOf(() => preset.authenticate(withoutTimestamp, settings()))).toBe('MISSING_SIGNATURE_HEADERS');
  });

  it('When the signature is not a base64 SHA-256, then INVALID_SIGNATURE_HEADERS', () => {
    const hex = signed(triggerBody());
    hex.headers['x-zendesk-webhook-signature'] = createHmac('sha256', SECRET).update('x').digest('hex');
    expect(codeOf(() => preset.authenticate(hex, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
  });

  it('When the timestamp header is oversized, then INVALID_SIGNATURE_HEADERS', () => {
    const body = triggerBody();
    const long = 'x'.repeat(65);
    const req = request(body, {
      'x-zendesk-webhook-signature-timestamp': long,
      'x-zendesk-webhook-signature': zendeskSignature(SECRET, long, body),
    });
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
  });

  it('When the timestamp is months old, then the delivery is still genuine: Zendesk enforces no window', () => {
    expect(() =>
      preset.authenticate(signed(triggerBody(), SECRET, '2020-01-01T00:00:00Z'), settings()),
    ).not.toThrow();
  });
});

describe('zendesk: a trigger with the template body', () => {
  it('When a ticket is solved, then one ticket.closed event with the ticket, email, time and invocation id', () => {
    const req = signed(triggerBody());
    const mapped = onlyEvent(deliver(req));
    expect(mapped.idempotencyKey).toBe(req.headers['x-zendesk-webhook-invocation-id']);
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: '2024-04-17T17:18:10.000Z',
      ticket: { id: '4711', url: 'https://example.zendesk.com/agent/tickets/4711' },
      requester: { email: 'jordan@example.com' },
    });
  });

  it('When Zendesk redelivers the same invocation, then the key is the same', () => {
    const body = triggerBody();
    const first = signed(body);
    const again = request(body, { ...first.headers });
    expect(onlyEvent(deliver(again)).idempotencyKey).toBe(onlyEvent(deliver(first)).idempotencyKey);
  });

  it.each(['Closed', 'solved', 'CLOSED'])('When the status is %s, then the task is closed', (status) => {
    expect(onlyEvent(deliver(signed(triggerBody({ status })))).event.type).toBe('ticket.closed');
  });

  it.each(['New', 'Open', 'Pending', 'Hold'])(
    'When the status is %s, then the task is reopened',
    (status) => {
      expect(onlyEvent(deliver(signed(triggerBody({ status })))).event.type).toBe('ticket.reopened');
    },
  );

  it('When the status is neither, then ignored with a reason', () => {
    expect(deliver(signed(triggerBody({ status: 'Escalated' })))).toEqual({
      kind: 'ignored',
      reason: 'status "Escalated" neither closes nor reopens',
    });
  });

  it('When the source lists its own closed statuses, then they replace solved/closed', () => {
    const custom = settings({ states: { closed: ['Resolved by bot'], reopened: undefined } });
    expect(onlyEvent(deliver(signed(triggerBody({ status: 'Resolved by bot' })), custom)).event.type).toBe(
      'ticket.closed',
    );
    expect(deliver(signed(triggerBody({ status: 'Solved' })), custom).kind).toBe('ignored');
  });

  it('When there is no invocation id, then the key is ticket + status + update time', () => {
    const req = signed(triggerBody());
    delete req.headers['x-zendesk-webhook-invocation-id'];
    expect(onlyEvent(deliver(req)).idempotencyKey).toBe('4711:solved:2024-04-17T17:18:10Z');
  });

  it('When the body template used {{ticket.url}} (no scheme), then the link is dropped, not the delivery', () => {
    const mapped = onlyEvent(
      deliver(signed(triggerBody({ ticket_url: 'example.zendesk.com/agent/tickets/4711' }))),
    );
    expect(mapped.event.ticket).toEqual({ id: '4711' });
  });

  it('When the requester has no email (placeholder rendered empty), then the event has none', () => {
    expect(onlyEvent(deliver(signed(triggerBody({ requester_email: '' })))).event.requester).toBeUndefined();
  });

  it.each([
    ['a JSON array', '[]'],
    ['no ticket_id', JSON.stringify({ status: 'Solved' })],
    ['a malformed email', triggerBody({ requester_email: 'not-an-email' })],
  ])('When the body is %s, then INVALID_BODY', (_what, body) => {
    expect(codeOf(() => deliver(signed(body)))).toBe('INVALID_BODY');
  });
});

describe('zendesk: an event subscription (ticket.status_changed)', () => {
  it('When a ticket moves to SOLVED, then one ticket.closed event with the ticket and the event time', () => {
    const req = signed(eventBody());
    delete req.headers['x-zendesk-webhook-invocation-id'];
    const mapped = onlyEvent(deliver(req));
    expect(mapped.idempotencyKey).toBe('cbe4028c-7239-495d-b020-f22348516046');
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: '2024-04-17T17:18:10.524Z',
      ticket: { id: '4711' },
    });
  });

  it('When the invocation id is sent, then it is the key', () => {
    const req = signed(eventBody());
    expect(onlyEvent(deliver(req)).idempotencyKey).toBe(req.headers['x-zendesk-webhook-invocation-id']);
  });

  it('When a solved ticket moves back to open, then ticket.reopened', () => {
    const mapped = onlyEvent(deliver(signed(eventBody({ event: { current: 'OPEN', previous: 'SOLVED' } }))));
    expect(mapped.event.type).toBe('ticket.reopened');
  });

  it('When an open ticket becomes pending, then ignored: nothing was closed', () => {
    expect(deliver(signed(eventBody({ event: { current: 'PENDING', previous: 'OPEN' } })))).toEqual({
      kind: 'ignored',
      reason: 'status "OPEN" → "PENDING" neither closes nor reopens',
    });
  });

  it('When detail.id is missing, then the ticket id comes from the subject zen:ticket:<id>', () => {
    const body = readZendeskFixture('event-status-changed');
    const detail = { ...(body.detail as Record<string, unknown>) };
    delete detail.id;
    expect(onlyEvent(deliver(signed(JSON.stringify({ ...body, detail })))).event.ticket).toEqual({
      id: '4711',
    });
  });

  it('When the event is another ticket event, then ignored with its type', () => {
    expect(deliver(signed(eventBody({ type: 'zen:event-type:ticket.priority_changed' })))).toEqual({
      kind: 'ignored',
      reason: 'Zendesk event "zen:event-type:ticket.priority_changed" is not a status change',
    });
  });

  it('When the envelope has no event.current, then INVALID_BODY', () => {
    expect(codeOf(() => deliver(signed(eventBody({ event: {} }))))).toBe('INVALID_BODY');
  });
});

describe('zendesk: the fixture builder of the end-to-end tests', () => {
  it('When the builder signs a close and a reopen, then the preset verifies and maps both', () => {
    for (const closed of [true, false]) {
      const { headers, body } = zendeskDelivery({
        secret: SECRET,
        ticketRef: 'ZD-4711',
        closed,
        now: NOW,
        url: 'http://127.0.0.1:3000/webhooks/zendesk',
        email: 'jordan@example.com',
      });
      const mapped = onlyEvent(deliver(request(body, headers)));
      expect(mapped.event.type).toBe(closed ? 'ticket.closed' : 'ticket.reopened');
      expect(mapped.event.ticket?.id).toBe('ZD-4711');
      expect(mapped.event.requester?.email).toBe('jordan@example.com');
      expect(mapped.event.occurredAt).toBe(NOW.toISOString());
    }
  });
});
