import { describe, expect, it } from '@jest/globals';
import type { SourceRequest } from '../src/index.js';
import { freshdeskDelivery, readFreshdeskFixture } from './fixtures/freshdesk.js';
import { codeOf, NOW, onlyEvent, presetUnderTest } from './support.js';

const SECRET = 'freshdesk-secret-0123456789ab';
const { settings, request, deliver } = presetUnderTest('freshdesk', { secret: SECRET });

const auth = { authorization: `Basic ${Buffer.from(`closeloop:${SECRET}`).toString('base64')}` };
const body = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ ...readFreshdeskFixture('automation-resolved'), ...fields });
const post = (text: string): SourceRequest => request(text, { 'content-type': 'application/json', ...auth });

describe("freshdesk: an automation rule's webhook with the advanced JSON body", () => {
  it('When a ticket is resolved, then ticket.closed with the ticket, its link, the email and updated_at', () => {
    const mapped = onlyEvent(deliver(post(body())));
    expect(mapped.idempotencyKey).toBe('4712:resolved:2024-04-17T17:18:10Z');
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: '2024-04-17T17:18:10.000Z',
      ticket: { id: '4712', url: 'https://example.freshdesk.com/a/tickets/4712' },
      requester: { email: 'jordan@example.com' },
    });
  });

  it('When Freshdesk retries the same call (+5, +30, +60 min), then the same key', () => {
    expect(onlyEvent(deliver(post(body()))).idempotencyKey).toBe(
      onlyEvent(deliver(post(body()))).idempotencyKey,
    );
  });

  it.each(['Resolved', 'Closed', '4', '5', 4, 5])('When the status is %p, then ticket.closed', (status) => {
    expect(onlyEvent(deliver(post(body({ status })))).event.type).toBe('ticket.closed');
  });

  it.each(['Open', 'Pending', 'Waiting on Customer', 'Waiting on Third Party', '2', '3', 6, 7])(
    'When the status is %p, then ticket.reopened',
    (status) => {
      expect(onlyEvent(deliver(post(body({ status })))).event.type).toBe('ticket.reopened');
    },
  );

  it('When the status is a custom one, then ignored, unless the source lists it', () => {
    expect(deliver(post(body({ status: 'Awaiting Parts' })))).toEqual({
      kind: 'ignored',
      reason: 'status "Awaiting Parts" neither closes nor reopens',
    });
    const custom = settings({ states: { closed: undefined, reopened: ['Awaiting Parts'] } });
    expect(onlyEvent(deliver(post(body({ status: 'Awaiting Parts' })), custom)).event.type).toBe(
      'ticket.reopened',
    );
  });

  it('When updated_at is absent, then the receive time stands in and the key uses the body hash', () => {
    const text = JSON.stringify({ ticket_id: '4712', status: 'Resolved' });
    const mapped = onlyEvent(deliver(post(text)));
    expect(mapped.event.occurredAt).toBe(NOW.toISOString());
    expect(mapped.idempotencyKey).toMatch(/^4712:resolved:[0-9a-f]{32}$/);
  });

  it('When the body is not the template, then INVALID_BODY', () => {
    expect(codeOf(() => deliver(post(JSON.stringify({ freshdesk_webhook: { ticket_id: 1 } }))))).toBe(
      'INVALID_BODY',
    );
  });

  it('When the secret is wrong, then UNAUTHORIZED', () => {
    const req = request(body(), {
      authorization: `Basic ${Buffer.from('closeloop:wrong').toString('base64')}`,
    });
    expect(codeOf(() => deliver(req))).toBe('UNAUTHORIZED');
  });
});

describe('freshdesk: the fixture builder of the end-to-end tests', () => {
  it('When the builder sends a close and a reopen, then both authenticate and map', () => {
    for (const closed of [true, false]) {
      const { headers, body: text } = freshdeskDelivery({
        secret: SECRET,
        ticketRef: '90002',
        closed,
        now: NOW,
        url: 'http://127.0.0.1/webhooks/freshdesk/token',
        email: 'jordan@example.com',
      });
      const mapped = onlyEvent(deliver(request(text, headers)));
      expect(mapped.event).toMatchObject({
        type: closed ? 'ticket.closed' : 'ticket.reopened',
        ticket: { id: '90002' },
        requester: { email: 'jordan@example.com' },
      });
    }
  });
});
