import { describe, expect, it } from '@jest/globals';
import { mapTemplateBody, parseTime, SourceError } from '../src/index.js';
import { NOW, presetUnderTest } from './support.js';

const STATES = { closed: ['closed'], reopened: ['open'] };
const { settings, request } = presetUnderTest('token', { secret: 'template-secret-0123456789' });

function map(body: unknown, deliveryId?: string) {
  return mapTemplateBody(body, request(JSON.stringify(body), {}), settings(), STATES, deliveryId);
}

function keyOf(body: unknown, deliveryId?: string): string | undefined {
  const result = map(body, deliveryId);
  return result.kind === 'events' ? result.events[0]?.idempotencyKey : undefined;
}

describe('template body: parseTime', () => {
  it.each([
    ['ISO 8601 with seconds', '2024-04-17T17:18:10Z', '2024-04-17T17:18:10.000Z'],
    ['ISO 8601 to the minute (Zendesk placeholder docs)', '2013-12-12T05:35Z', '2013-12-12T05:35:00.000Z'],
    ['an offset', '2024-04-17T19:18:10+02:00', '2024-04-17T17:18:10.000Z'],
    ['Unix seconds', '1713374290', '2024-04-17T17:18:10.000Z'],
    ['Unix milliseconds', '1713374290123', '2024-04-17T17:18:10.123Z'],
  ])('When the time is %s, then it is read', (_what, value, iso) => {
    expect(parseTime(value)?.toISOString()).toBe(iso);
  });

  it.each(['', 'yesterday', '{{ticket.updated_at}}'])(
    'When the time is %p, then it is unreadable',
    (value) => {
      expect(parseTime(value)).toBeUndefined();
    },
  );
});

describe('template body: mapping', () => {
  it('When ids and status are numbers (a placeholder rendered unquoted), then they are read as strings', () => {
    const result = map({ ticket_id: 4711, status: 'closed' });
    expect(result.kind === 'events' && result.events[0]?.event.ticket).toEqual({ id: '4711' });
  });

  it('When values are padded with spaces, then they are trimmed', () => {
    const result = map({ ticket_id: ' 4711 ', status: ' Closed ', requester_email: ' jordan@example.com ' });
    expect(result.kind === 'events' && result.events[0]?.event).toMatchObject({
      ticket: { id: '4711' },
      requester: { email: 'jordan@example.com' },
    });
  });

  it('When the time is unreadable, then the receive time stands in', () => {
    const result = map({ ticket_id: '1', status: 'open', updated_at: 'yesterday' });
    expect(result.kind === 'events' && result.events[0]?.event.occurredAt).toBe(NOW.toISOString());
  });

  it('When a delivery id is given, then it is the key; else ticket + status + update time', () => {
    const body = { ticket_id: 'A 1', status: 'Closed', updated_at: '2024-04-17T17:18:10Z' };
    expect(keyOf(body, 'delivery-1')).toBe('delivery-1');
    expect(keyOf(body)).toBe('A_1:closed:2024-04-17T17:18:10Z');
  });

  it('When the key would exceed 256 characters, then its SHA-256 is used', () => {
    expect(keyOf({ ticket_id: 'x'.repeat(250), status: 'closed' })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('When the same body comes twice without a time, then the same key; another body, another key', () => {
    const body = { ticket_id: '1', status: 'closed' };
    expect(keyOf(body)).toBe(keyOf(body));
    expect(keyOf({ ...body, requester_email: 'a@example.com' })).not.toBe(keyOf(body));
  });

  it('When ticket_url is not an http(s) URL, then it is left out', () => {
    for (const url of ['javascript:alert(1)', 'acme.zendesk.com/agent/tickets/1', 'ftp://x/1']) {
      const result = map({ ticket_id: '1', status: 'closed', ticket_url: url });
      expect(result.kind === 'events' && result.events[0]?.event.ticket).toEqual({ id: '1' });
    }
  });

  it.each([
    ['null', null],
    ['a string', 'closed'],
    ['an empty ticket_id', { ticket_id: '', status: 'closed' }],
    ['a boolean status', { ticket_id: '1', status: true }],
  ])('When the body is %s, then INVALID_BODY', (_what, body) => {
    expect(() => map(body)).toThrow(SourceError);
  });
});
