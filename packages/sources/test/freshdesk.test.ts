import { describe, expect, it } from '@jest/globals';
import {
  PRESETS,
  SourceError,
  type MapResult,
  type SourceRequest,
  type SourceSettings,
} from '../src/index.js';
import { freshdeskDelivery, readFreshdeskFixture } from './fixtures/freshdesk.js';

const preset = PRESETS.freshdesk;
const SECRET = 'freshdesk-secret-0123456789ab';
const NOW = new Date('2026-11-28T10:00:00.000Z');

function settings(overrides: Partial<SourceSettings> = {}): SourceSettings {
  return {
    name: 'freshdesk',
    type: 'freshdesk',
    secrets: [SECRET],
    locationId: undefined,
    publicUrl: undefined,
    states: { closed: undefined, reopened: undefined },
    auth: { header: 'X-Closeloop-Secret' },
    ticketPattern: undefined,
    ...overrides,
  };
}

function request(body: string, headers: SourceRequest['headers']): SourceRequest {
  return { method: 'POST', url: '/webhooks/freshdesk', headers, rawBody: Buffer.from(body), receivedAt: NOW };
}

/** The receiver's order: authenticate, then parse, then map. */
function deliver(req: SourceRequest, sourceSettings = settings()): MapResult {
  preset.authenticate(req, sourceSettings);
  return preset.map(JSON.parse(req.rawBody.toString('utf8')), req, sourceSettings);
}

function codeOf(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof SourceError) return error.code;
    throw error;
  }
  return undefined;
}

function onlyEvent(result: MapResult) {
  if (result.kind !== 'events') throw new Error(`expected events, got ignored: ${result.reason}`);
  expect(result.events).toHaveLength(1);
  const [mapped] = result.events;
  if (!mapped) throw new Error('no event');
  return mapped;
}

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
