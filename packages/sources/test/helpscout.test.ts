import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import type { SourceRequest } from '../src/index.js';
import { helpscoutDelivery, helpscoutSignature, readHelpscoutFixture } from './fixtures/helpscout.js';
import { codeOf, NOW, onlyEvent, presetUnderTest } from './support.js';

const SECRET = 'hs-webhook-secret-0123456789';
const { preset, settings, request, deliver } = presetUnderTest('helpscout', { secret: SECRET });

function signed(body: string, event = 'convo.status', secret = SECRET): SourceRequest {
  return request(body, {
    'content-type': 'application/json',
    'x-helpscout-event': event,
    'x-helpscout-signature': helpscoutSignature(secret, body),
  });
}

const conversation = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ ...readHelpscoutFixture('convo-status-closed'), ...fields });

describe('helpscout: the signature', () => {
  it('When a delivery is signed base64 HMAC-SHA1 over the body with the secret key, then it is genuine', () => {
    expect(() => preset.authenticate(signed(conversation()), settings())).not.toThrow();
  });

  it("When it is computed as Help Scout's PHP example computes it, then the same signature", () => {
    // base64_encode(hash_hmac('sha1', $data, WEBHOOK_SECRET_KEY, true)), developer.helpscout.com/webhooks
    const body = conversation();
    const raw = createHmac('sha1', SECRET).update(body).digest();
    expect(signed(body).headers['x-helpscout-signature']).toBe(raw.toString('base64'));
  });

  it('When the body was changed after signing, then INVALID_SIGNATURE', () => {
    const req = signed(conversation());
    const tampered = { ...req, rawBody: Buffer.from(conversation({ number: 350 })) };
    expect(codeOf(() => preset.authenticate(tampered, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When it is signed with another secret, then INVALID_SIGNATURE', () => {
    const req = signed(conversation(), 'convo.status', 'another-secret-0123456789');
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When the secret is being rotated, then either secret verifies', () => {
    const rotating = settings({ secrets: ['old-secret-0123456789abc', SECRET] });
    expect(() => preset.authenticate(signed(conversation()), rotating)).not.toThrow();
    const old = signed(conversation(), 'convo.status', 'old-secret-0123456789abc');
    expect(() => preset.authenticate(old, rotating)).not.toThrow();
  });

  it('When X-HelpScout-Signature is missing, then MISSING_SIGNATURE_HEADERS', () => {
    const req = signed(conversation());
    delete req.headers['x-helpscout-signature'];
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('MISSING_SIGNATURE_HEADERS');
  });

  it('When the signature is hex or SHA-256, then INVALID_SIGNATURE_HEADERS', () => {
    const body = conversation();
    for (const value of [
      createHmac('sha1', SECRET).update(body).digest('hex'),
      createHmac('sha256', SECRET).update(body).digest('base64'),
    ]) {
      const req = signed(body);
      req.headers['x-helpscout-signature'] = value;
      expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
    }
  });
});

describe('helpscout: convo.status', () => {
  it('When a conversation is closed, then ticket.closed for its number, with the customer email and closedAt', () => {
    const mapped = onlyEvent(deliver(signed(conversation())));
    expect(mapped.idempotencyKey).toBe('2391938111:closed:2012-10-10T13:00:00.000Z');
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: '2012-10-10T13:00:00.000Z',
      ticket: { id: '349', url: 'https://secure.helpscout.net/conversation/2391938111/349/' },
      requester: { email: 'bear@acme.com' },
    });
  });

  it('When Help Scout redelivers the same change, then the same key', () => {
    const body = conversation();
    expect(onlyEvent(deliver(signed(body))).idempotencyKey).toBe(
      onlyEvent(deliver(signed(body))).idempotencyKey,
    );
  });

  it.each(['active', 'pending'])(
    'When a closed conversation becomes %s, then ticket.reopened at its update time',
    (status) => {
      const mapped = onlyEvent(
        deliver(signed(conversation({ status, closedAt: null, userUpdatedAt: '2012-10-11T09:00:00Z' }))),
      );
      expect(mapped.event.type).toBe('ticket.reopened');
      expect(mapped.event.occurredAt).toBe('2012-10-11T09:00:00.000Z');
      expect(mapped.idempotencyKey).toBe(`2391938111:${status}:2012-10-11T09:00:00.000Z`);
    },
  );

  it("When a customer's reply reopens it and no timestamp is newer than closedAt, then the receive time stands in", () => {
    const mapped = onlyEvent(deliver(signed(conversation({ status: 'active' }))));
    expect(mapped.event.type).toBe('ticket.reopened');
    expect(mapped.event.occurredAt).toBe(NOW.toISOString());
  });

  it('When the conversation is marked spam, then ignored', () => {
    expect(deliver(signed(conversation({ status: 'spam' })))).toEqual({
      kind: 'ignored',
      reason: 'status "spam" neither closes nor reopens',
    });
  });

  it.each(['convo.tags', 'convo.custom-fields', 'convo.created', 'customer.created'])(
    'When the event is %s, then ignored',
    (event) => {
      expect(deliver(signed(conversation(), event))).toEqual({
        kind: 'ignored',
        reason: `Help Scout event "${event}" is not convo.status`,
      });
    },
  );

  it('When the source lists its own states, then they are compared with status', () => {
    const custom = settings({ states: { closed: ['closed'], reopened: ['active'] } });
    expect(deliver(signed(conversation({ status: 'pending' })), custom).kind).toBe('ignored');
  });

  it('When the conversation has no customer email, then the event has none', () => {
    const body = readHelpscoutFixture('convo-status-closed');
    const mapped = onlyEvent(deliver(signed(JSON.stringify({ ...body, primaryCustomer: { id: 12 } }))));
    expect(mapped.event.requester).toBeUndefined();
  });

  it('When X-HelpScout-Event is missing, then INVALID_BODY', () => {
    const req = signed(conversation());
    delete req.headers['x-helpscout-event'];
    expect(codeOf(() => deliver(req))).toBe('INVALID_BODY');
  });

  it.each([
    ['an array', '[]'],
    ['a deleted-conversation stub', JSON.stringify({ id: 2391938111 })],
    ['a conversation without status', conversation({ status: null })],
  ])('When the convo.status body is %s, then INVALID_BODY', (_what, body) => {
    expect(codeOf(() => deliver(signed(body)))).toBe('INVALID_BODY');
  });
});

describe('helpscout: the fixture builder of the end-to-end tests', () => {
  it('When the builder signs a close and then a reopen, then both map, the reopen later than the close', () => {
    const build = (closed: boolean, now: Date) =>
      helpscoutDelivery({
        secret: SECRET,
        ticketRef: '90003',
        closed,
        now,
        url: 'http://127.0.0.1/webhooks/helpscout',
        email: 'jordan@example.com',
      });
    const close = build(true, NOW);
    const reopen = build(false, new Date(NOW.getTime() + 1000));
    const closedEvent = onlyEvent(deliver(request(close.body, close.headers))).event;
    const reopenedEvent = onlyEvent(deliver(request(reopen.body, reopen.headers))).event;
    expect(closedEvent).toMatchObject({
      type: 'ticket.closed',
      ticket: { id: '90003' },
      requester: { email: 'jordan@example.com' },
    });
    expect(reopenedEvent.type).toBe('ticket.reopened');
    expect(reopenedEvent.occurredAt > closedEvent.occurredAt).toBe(true);
  });
});
