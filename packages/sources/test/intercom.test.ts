import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import type { SourceRequest } from '../src/index.js';
import { intercomDelivery, intercomSignature, readIntercomFixture } from './fixtures/intercom.js';
import { codeOf, NOW, onlyEvent, presetUnderTest } from './support.js';

const SECRET = 'ic-client-secret-0123456789';
const { preset, settings, request, deliver } = presetUnderTest('intercom', { secret: SECRET });

function signed(body: string, secret = SECRET): SourceRequest {
  return request(body, {
    'content-type': 'application/json',
    'x-hub-signature': intercomSignature(secret, body),
  });
}

type Json = Record<string, unknown>;
const fixture = (name: string): Json => readIntercomFixture(name);
/** The ticket notification with its item changed. */
function ticketNotification(item: Json = {}, envelope: Json = {}): string {
  const notification = fixture('ticket-state-updated-resolved');
  const data = notification.data as { item: Json };
  return JSON.stringify({ ...notification, ...envelope, data: { ...data, item: { ...data.item, ...item } } });
}
const state = (category: string, extra: Json = {}): Json => ({
  ticket_state: {
    type: 'ticket_state',
    id: '12',
    category,
    internal_label: category,
    external_label: category,
    ...extra,
  },
});

describe('intercom: the signature', () => {
  it("When a delivery is signed sha1= hex HMAC-SHA1 with the app's client secret, then it is genuine", () => {
    expect(() => preset.authenticate(signed(ticketNotification()), settings())).not.toThrow();
  });

  it('When the hex digest arrives in upper case, then it is still genuine', () => {
    const req = signed(ticketNotification());
    req.headers['x-hub-signature'] = `sha1=${String(req.headers['x-hub-signature']).slice(5).toUpperCase()}`;
    expect(() => preset.authenticate(req, settings())).not.toThrow();
  });

  it('When the body was changed after signing, then INVALID_SIGNATURE', () => {
    const req = signed(ticketNotification());
    const tampered = { ...req, rawBody: Buffer.from(ticketNotification({ ticket_id: '34' })) };
    expect(codeOf(() => preset.authenticate(tampered, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When it is signed with another secret, then INVALID_SIGNATURE', () => {
    expect(
      codeOf(() =>
        preset.authenticate(signed(ticketNotification(), 'another-secret-0123456789'), settings()),
      ),
    ).toBe('INVALID_SIGNATURE');
  });

  it('When the client secret is being rotated, then either secret verifies', () => {
    const rotating = settings({ secrets: ['old-secret-0123456789abc', SECRET] });
    expect(() => preset.authenticate(signed(ticketNotification()), rotating)).not.toThrow();
    expect(() =>
      preset.authenticate(signed(ticketNotification(), 'old-secret-0123456789abc'), rotating),
    ).not.toThrow();
  });

  it('When X-Hub-Signature is missing, then MISSING_SIGNATURE_HEADERS', () => {
    const req = signed(ticketNotification());
    delete req.headers['x-hub-signature'];
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('MISSING_SIGNATURE_HEADERS');
  });

  it('When the header has no sha1= prefix or is a sha256= signature, then INVALID_SIGNATURE_HEADERS', () => {
    const body = ticketNotification();
    for (const value of [
      createHmac('sha1', SECRET).update(body).digest('hex'),
      `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
    ]) {
      const req = signed(body);
      req.headers['x-hub-signature'] = value;
      expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
    }
  });
});

describe('intercom: ticket.state.updated', () => {
  it('When a ticket is resolved, then ticket.closed for its ticket_id at updated_at, keyed by the notification id', () => {
    const mapped = onlyEvent(deliver(signed(ticketNotification())));
    expect(mapped.idempotencyKey).toBe('notif_ccd8a4d2-c0ed-4a6a-9b8f-22c7e1f4a8b3');
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: new Date(1734537900 * 1000).toISOString(),
      ticket: { id: '33' },
    });
  });

  it('When Intercom retries the notification, then the same key', () => {
    const body = ticketNotification({}, { delivery_attempts: 2 });
    expect(onlyEvent(deliver(signed(body))).idempotencyKey).toBe(
      'notif_ccd8a4d2-c0ed-4a6a-9b8f-22c7e1f4a8b3',
    );
  });

  it.each(['submitted', 'in_progress', 'waiting_on_customer'])(
    'When a ticket moves to %s, then ticket.reopened',
    (category) => {
      expect(onlyEvent(deliver(signed(ticketNotification(state(category))))).event.type).toBe(
        'ticket.reopened',
      );
    },
  );

  it('When ticket_state is the bare category string of API versions before 2.12, then it is read too', () => {
    expect(onlyEvent(deliver(signed(ticketNotification({ ticket_state: 'resolved' })))).event.type).toBe(
      'ticket.closed',
    );
  });

  it('When the source names a custom state by its internal label, then that state closes', () => {
    const custom = settings({ states: { closed: ['Fixed by dev'], reopened: undefined } });
    const body = ticketNotification(state('in_progress', { internal_label: 'Fixed by dev' }));
    expect(onlyEvent(deliver(signed(body), custom)).event.type).toBe('ticket.closed');
  });

  it('When the state is one the source does not list, then ignored', () => {
    const custom = settings({ states: { closed: ['resolved'], reopened: ['submitted'] } });
    expect(deliver(signed(ticketNotification(state('in_progress'))), custom)).toEqual({
      kind: 'ignored',
      reason: 'ticket state "in_progress" neither closes nor reopens',
    });
  });

  it("When the first contact carries an email, then it is the requester's", () => {
    const contacts = {
      type: 'contact.list',
      contacts: [{ type: 'contact', id: 'c1', email: 'jordan@example.com' }],
    };
    expect(onlyEvent(deliver(signed(ticketNotification({ contacts })))).event.requester).toEqual({
      email: 'jordan@example.com',
    });
  });

  it('When there is no notification id, then the key is ticket + state + update time', () => {
    expect(onlyEvent(deliver(signed(ticketNotification({}, { id: null })))).idempotencyKey).toBe(
      '33:resolved:1734537900',
    );
  });

  it('When the ticket has no state, then INVALID_BODY', () => {
    expect(codeOf(() => deliver(signed(ticketNotification({ ticket_state: null }))))).toBe('INVALID_BODY');
  });
});

describe('intercom: conversations, pings and other topics', () => {
  it('When an admin closes a conversation, then ticket.closed for the conversation id', () => {
    const mapped = onlyEvent(deliver(signed(JSON.stringify(fixture('conversation-admin-closed')))));
    expect(mapped.idempotencyKey).toBe('notif_5c0f1b2e-8a8f-4f7e-9b0a-7d1f0c2e6a11');
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: new Date(1596635155 * 1000).toISOString(),
      ticket: { id: '137324500000000' },
    });
  });

  it('When an admin opens it again, then ticket.reopened', () => {
    const body = JSON.stringify({
      ...fixture('conversation-admin-closed'),
      topic: 'conversation.admin.opened',
    });
    expect(onlyEvent(deliver(signed(body))).event.type).toBe('ticket.reopened');
  });

  it('When Intercom pings the new webhook, then ignored', () => {
    expect(deliver(signed(JSON.stringify(fixture('ping'))))).toEqual({
      kind: 'ignored',
      reason: 'Intercom topic "ping" neither closes nor reopens',
    });
  });

  it.each(['ticket.created', 'conversation.admin.replied', 'contact.user.created'])(
    'When the topic is %s, then ignored',
    (topic) => {
      expect(deliver(signed(ticketNotification({}, { topic }))).kind).toBe('ignored');
    },
  );

  it.each([
    ['not a notification_event', JSON.stringify({ type: 'ticket', id: '1' })],
    [
      'a notification without data.item',
      JSON.stringify({ type: 'notification_event', topic: 'conversation.admin.closed', id: 'n1' }),
    ],
    ['a ticket without ids', ticketNotification({ id: null, ticket_id: null })],
  ])('When the body is %s, then INVALID_BODY', (_what, body) => {
    expect(codeOf(() => deliver(signed(body)))).toBe('INVALID_BODY');
  });
});

describe('intercom: the fixture builder of the end-to-end tests', () => {
  it('When the builder signs a close and a reopen, then both map to the ticket reference', () => {
    for (const closed of [true, false]) {
      const { headers, body } = intercomDelivery({
        secret: SECRET,
        ticketRef: '90004',
        closed,
        now: NOW,
        url: 'http://127.0.0.1/webhooks/intercom',
      });
      const mapped = onlyEvent(deliver(request(body, headers)));
      expect(mapped.event).toEqual({
        type: closed ? 'ticket.closed' : 'ticket.reopened',
        occurredAt: NOW.toISOString(),
        ticket: { id: '90004' },
      });
    }
  });
});
