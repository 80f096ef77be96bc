import { describe, expect, it } from '@jest/globals';
import type { SourceRequest } from '../src/index.js';
import { readTokenFixture, tokenDelivery } from './fixtures/token.js';
import { codeOf, NOW, onlyEvent, presetUnderTest } from './support.js';

const SECRET = 'token-secret-0123456789abcdef';
const { settings, request, deliver } = presetUnderTest('token', { secret: SECRET });

const body = (fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ ...readTokenFixture('curl-closed'), ...fields });
const post = (text: string): SourceRequest =>
  request(text, { 'content-type': 'application/json', authorization: `Bearer ${SECRET}` });

describe("token: closeloop's template body from any sender", () => {
  it('When a script posts a close, then ticket.closed with the ticket, link, email and time', () => {
    const mapped = onlyEvent(deliver(post(body())));
    expect(mapped.idempotencyKey).toBe('OPS-4713:closed:2024-04-17T17:18:10Z');
    expect(mapped.event).toEqual({
      type: 'ticket.closed',
      occurredAt: '2024-04-17T17:18:10.000Z',
      ticket: { id: 'OPS-4713', url: 'https://helpdesk.example.com/tickets/OPS-4713' },
      requester: { email: 'jordan@example.com' },
    });
  });

  it.each(['closed', 'Solved', 'resolved', 'DONE', 'completed'])(
    'When the status is %s, then ticket.closed',
    (status) => {
      expect(onlyEvent(deliver(post(body({ status })))).event.type).toBe('ticket.closed');
    },
  );

  it.each(['open', 'reopened', 'pending', 'new'])('When the status is %s, then ticket.reopened', (status) => {
    expect(onlyEvent(deliver(post(body({ status })))).event.type).toBe('ticket.reopened');
  });

  it('When the status is anything else (e.g. a Gorgias "snoozed"), then ignored', () => {
    expect(deliver(post(body({ status: 'snoozed' })))).toEqual({
      kind: 'ignored',
      reason: 'status "snoozed" neither closes nor reopens',
    });
  });

  it('When a ticket field holds the GHL ids, then the event names its task and carries the location', () => {
    const located = settings({ locationId: 've9EPM428h8vShlRW1KT' });
    const mapped = onlyEvent(
      deliver(
        post(body({ ghl_contact_id: 'sx6wyHhbFdRXh302LLNR', ghl_task_id: 'Ot5LnPvUkHszHETxzwAq' })),
        located,
      ),
    );
    expect(mapped.event.ghl).toEqual({
      locationId: 've9EPM428h8vShlRW1KT',
      contactId: 'sx6wyHhbFdRXh302LLNR',
      taskId: 'Ot5LnPvUkHszHETxzwAq',
    });
  });

  it('When only one of the GHL ids is given, then INVALID_BODY', () => {
    expect(codeOf(() => deliver(post(body({ ghl_task_id: 'Ot5LnPvUkHszHETxzwAq' }))))).toBe('INVALID_BODY');
  });

  it('When the body misses status, then INVALID_BODY', () => {
    expect(codeOf(() => deliver(post(JSON.stringify({ ticket_id: 'OPS-1' }))))).toBe('INVALID_BODY');
  });
});

describe('token: the fixture builder of the end-to-end tests', () => {
  it('When the builder sends a close and a reopen, then both authenticate and map', () => {
    for (const closed of [true, false]) {
      const { headers, body: text } = tokenDelivery({
        secret: SECRET,
        ticketRef: 'OPS-90009',
        closed,
        now: NOW,
        url: 'http://127.0.0.1/webhooks/token',
        email: 'jordan@example.com',
      });
      const mapped = onlyEvent(deliver(request(text, headers)));
      expect(mapped.event).toEqual({
        type: closed ? 'ticket.closed' : 'ticket.reopened',
        occurredAt: NOW.toISOString(),
        ticket: { id: 'OPS-90009', url: 'https://helpdesk.example.com/tickets/OPS-90009' },
        requester: { email: 'jordan@example.com' },
      });
    }
  });
});
