import { describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import type { SourceRequest } from '../src/index.js';
import { linearDelivery, readLinearFixture } from './fixtures/linear.js';
import { codeOf, presetUnderTest } from './support.js';

const SECRET = 'lin_wh_secret_0123456789abcdef';
const { preset, settings, request, deliver } = presetUnderTest('linear', { secret: SECRET });

/** Signed as Linear signs; received `skewMs` after the body's webhookTimestamp. */
function signed(
  body: Record<string, unknown> | string,
  options: { secret?: string; skewMs?: number; delivery?: string } = {},
): SourceRequest {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const timestamp = typeof body === 'string' ? Date.now() : Number(body.webhookTimestamp);
  return request(
    raw,
    {
      'content-type': 'application/json; charset=utf-8',
      'linear-event': 'Issue',
      'linear-delivery': options.delivery ?? '5f1b0c1e-6a1d-4f43-9d53-0c2f3c7b9a10',
      'linear-signature': createHmac('sha256', options.secret ?? SECRET)
        .update(raw)
        .digest('hex'),
    },
    { receivedAt: new Date(timestamp + (options.skewMs ?? 1_500)) },
  );
}

describe('linear preset', () => {
  it('When an issue moves to a completed state, then ticket.closed for its identifier, keyed by Linear-Delivery', () => {
    expect(deliver(signed(readLinearFixture('issue-update-completed')))).toEqual({
      kind: 'events',
      ignored: [],
      events: [
        {
          idempotencyKey: '5f1b0c1e-6a1d-4f43-9d53-0c2f3c7b9a10',
          event: {
            type: 'ticket.closed',
            occurredAt: '2024-01-15T10:00:00.000Z',
            ticket: { id: 'ENG-123', url: 'https://linear.app/acme/issue/ENG-123/fix-login-bug' },
          },
        },
      ],
    });
  });

  it('When a canceled state is reached, then ticket.closed too; overriding the closed types changes that', () => {
    const body = readLinearFixture('issue-update-completed');
    (body.data as { state: { type: string } }).state.type = 'canceled';
    const result = deliver(signed(body));
    expect(result.kind === 'events' && result.events[0]?.event.type).toBe('ticket.closed');
    const onlyCompleted = settings({ states: { closed: ['completed'], reopened: undefined } });
    expect(deliver(signed(body), onlyCompleted)).toEqual({
      kind: 'ignored',
      reason: expect.stringMatching(/"canceled" neither/),
    });
  });

  it('When a completed issue moves back to a started state, then ticket.reopened', () => {
    const result = deliver(signed(readLinearFixture('issue-update-reopened')));
    expect(result.kind === 'events' && result.events[0]?.event).toMatchObject({
      type: 'ticket.reopened',
      ticket: { id: 'ENG-123' },
    });
  });

  it('When Linear retries the delivery, then the key is the same', () => {
    const body = readLinearFixture('issue-update-completed');
    const keys = [deliver(signed(body)), deliver(signed(body))].map(
      (result) => result.kind === 'events' && result.events[0]?.idempotencyKey,
    );
    expect(keys[0]).toBe(keys[1]);
  });

  it('When the builder makes a delivery, then the preset maps it back to its identifier', () => {
    const now = new Date('2026-11-28T10:00:00.000Z');
    for (const closed of [true, false]) {
      const delivery = linearDelivery({
        secret: SECRET,
        ticketRef: 'OPS-9',
        closed,
        now,
        url: 'http://127.0.0.1/webhooks/linear',
      });
      const result = deliver(request(delivery.body, delivery.headers, { receivedAt: now }));
      expect(result.kind === 'events' && result.events[0]?.event).toEqual({
        type: closed ? 'ticket.closed' : 'ticket.reopened',
        occurredAt: now.toISOString(),
        ticket: { id: 'OPS-9', url: 'https://linear.app/acme/issue/OPS-9' },
      });
    }
  });

  it.each([
    ['a state change between open states', 'issue-update-started', /"started" neither closes nor reopens/],
    ['an update that keeps the state', 'issue-update-title', /does not change the state/],
    ['a comment', 'comment-create', /Comment event is not about an issue/],
  ])('When Linear sends %s, then it is ignored with a reason', (_label, fixture, reason) => {
    expect(deliver(signed(readLinearFixture(fixture)))).toEqual({
      kind: 'ignored',
      reason: expect.stringMatching(reason),
    });
  });

  it('When an issue is created, then it is ignored (only updates change state)', () => {
    const body = { ...readLinearFixture('issue-update-completed'), action: 'create' };
    expect(deliver(signed(body))).toEqual({
      kind: 'ignored',
      reason: expect.stringMatching(/"create" is not an update/),
    });
  });

  it('When webhookTimestamp is more than 60 s from the receive time (either way), then SIGNATURE_EXPIRED', () => {
    const body = readLinearFixture('issue-update-completed');
    expect(codeOf(() => preset.authenticate(signed(body, { skewMs: 60_001 }), settings()))).toBe(
      'SIGNATURE_EXPIRED',
    );
    expect(codeOf(() => preset.authenticate(signed(body, { skewMs: -60_001 }), settings()))).toBe(
      'SIGNATURE_EXPIRED',
    );
    expect(() => preset.authenticate(signed(body, { skewMs: 59_000 }), settings())).not.toThrow();
  });

  it('When webhookTimestamp is absent or not milliseconds, then MISSING_ / INVALID_SIGNATURE_HEADERS', () => {
    const body = readLinearFixture('issue-update-completed');
    const { webhookTimestamp, ...without } = body;
    expect(codeOf(() => preset.authenticate(signed(without), settings()))).toBe('MISSING_SIGNATURE_HEADERS');
    expect(
      codeOf(() =>
        preset.authenticate(signed({ ...body, webhookTimestamp: String(webhookTimestamp) }), settings()),
      ),
    ).toBe('INVALID_SIGNATURE_HEADERS');
  });

  it('When a validly signed body is not JSON, then INVALID_JSON (after the signature, never before)', () => {
    expect(codeOf(() => preset.authenticate(signed('{"webhookTimestamp": 17'), settings()))).toBe(
      'INVALID_JSON',
    );
    const unsigned = {
      ...signed('{"webhookTimestamp": 17'),
      headers: { 'linear-signature': 'a'.repeat(64) },
    };
    expect(codeOf(() => preset.authenticate(unsigned, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When the secret is rotated, then the second secret verifies; a wrong one is INVALID_SIGNATURE', () => {
    const body = readLinearFixture('issue-update-completed');
    const rotated = settings({ secrets: [SECRET, 'lin_wh_next_0123456789abcdef'] });
    expect(() =>
      preset.authenticate(signed(body, { secret: 'lin_wh_next_0123456789abcdef' }), rotated),
    ).not.toThrow();
    expect(
      codeOf(() => preset.authenticate(signed(body, { secret: 'lin_wh_other_0123456789abcd' }), settings())),
    ).toBe('INVALID_SIGNATURE');
  });

  it('When Linear-Signature is missing or not 64 hex digits, then MISSING_ / INVALID_SIGNATURE_HEADERS', () => {
    const req = signed(readLinearFixture('issue-update-completed'));
    expect(codeOf(() => preset.authenticate({ ...req, headers: {} }, settings()))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
    const prefixed = {
      ...req,
      headers: { 'linear-signature': `sha256=${String(req.headers['linear-signature'])}` },
    };
    expect(codeOf(() => preset.authenticate(prefixed, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
  });

  it('When a genuine body is not Linear-shaped, then INVALID_BODY', () => {
    const req = signed(readLinearFixture('issue-update-completed'));
    expect(codeOf(() => preset.map([], req, settings()))).toBe('INVALID_BODY');
    expect(codeOf(() => preset.map({ type: 'Issue' }, req, settings()))).toBe('INVALID_BODY');
    expect(
      codeOf(() =>
        preset.map(
          { type: 'Issue', action: 'update', data: { state: { type: 'completed' } } },
          req,
          settings(),
        ),
      ),
    ).toBe('INVALID_BODY');
  });
});
