import { describe, expect, it } from '@jest/globals';
import { verify as octokitVerify } from '@octokit/webhooks-methods';
import { createHmac } from 'node:crypto';
import type { SourceRequest } from '../src/index.js';
import { jiraDelivery, readJiraFixture } from './fixtures/jira.js';
import { codeOf, NOW, presetUnderTest } from './support.js';

const SECRET = 'jira-webhook-secret-0123456789';
const { preset, settings, request, deliver } = presetUnderTest('jira', { secret: SECRET });

function signed(
  body: unknown,
  secret = SECRET,
  identifier: string | null = 'a1b2c3d4-0000-4000-8000-00000000a001',
): SourceRequest {
  const raw = Buffer.from(JSON.stringify(body));
  return request(raw, {
    'content-type': 'application/json; charset=utf-8',
    ...(identifier !== null && { 'x-atlassian-webhook-identifier': identifier }),
    'x-hub-signature': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`,
  });
}

describe('jira preset', () => {
  it('When an issue moves to a done status, then ticket.closed for the issue key with the reporter email, keyed by the webhook identifier', () => {
    expect(deliver(signed(readJiraFixture('issue-updated-done')))).toEqual({
      kind: 'events',
      ignored: [],
      events: [
        {
          idempotencyKey: 'a1b2c3d4-0000-4000-8000-00000000a001',
          event: {
            type: 'ticket.closed',
            occurredAt: new Date(1720007200000).toISOString(),
            ticket: { id: 'PROJ-42', url: 'https://your-domain.atlassian.net/browse/PROJ-42' },
            requester: { email: 'mia@example.com' },
          },
        },
      ],
    });
  });

  it('When an issue moves from Done back to In Progress, then ticket.reopened', () => {
    const result = deliver(signed(readJiraFixture('issue-updated-reopened')));
    expect(result.kind === 'events' && result.events[0]?.event).toMatchObject({
      type: 'ticket.reopened',
      ticket: { id: 'PROJ-42' },
    });
  });

  it('When the done statuses are overridden, then a reopen is judged from those names', () => {
    const body = readJiraFixture('issue-updated-reopened');
    const custom = settings({ states: { closed: ['Shipped'], reopened: undefined } });
    expect(deliver(signed(body), custom)).toEqual({
      kind: 'ignored',
      reason: expect.stringMatching(/neither closes nor reopens/),
    });
    (body.changelog as { items: { fromString: string }[] }).items[0]!.fromString = 'shipped';
    const result = deliver(signed(body), custom);
    expect(result.kind === 'events' && result.events[0]?.event.type).toBe('ticket.reopened');
  });

  it('When Jira retries, then the key is the same; without the identifier header it is built from issue, status and time', () => {
    const body = readJiraFixture('issue-updated-done');
    const first = deliver(signed(body));
    const again = deliver(signed(body));
    expect(
      first.kind === 'events' &&
        again.kind === 'events' &&
        again.events[0]?.idempotencyKey === first.events[0]?.idempotencyKey,
    ).toBe(true);
    const bare = deliver(signed(body, SECRET, null));
    expect(bare.kind === 'events' && bare.events[0]?.idempotencyKey).toBe('PROJ-42:done:1720007200000');
  });

  it('When the reporter email is hidden, then the event has no requester', () => {
    const delivery = jiraDelivery({
      secret: SECRET,
      ticketRef: 'OPS-7',
      closed: true,
      now: NOW,
      url: 'http://127.0.0.1/webhooks/jira',
    });
    const result = deliver(request(delivery.body, delivery.headers));
    expect(result.kind === 'events' && result.events[0]?.event).toEqual({
      type: 'ticket.closed',
      occurredAt: NOW.toISOString(),
      ticket: { id: 'OPS-7', url: 'https://your-domain.atlassian.net/browse/OPS-7' },
    });
  });

  it('When the builder makes a delivery, then @octokit/webhooks-methods verifies its signature too (same scheme as GitHub)', async () => {
    const delivery = jiraDelivery({
      secret: SECRET,
      ticketRef: 'OPS-7',
      closed: false,
      now: NOW,
      url: 'http://x',
      email: 'ann@example.com',
    });
    expect(await octokitVerify(SECRET, delivery.body, delivery.headers['x-hub-signature'] ?? '')).toBe(true);
    const result = deliver(request(delivery.body, delivery.headers));
    expect(result.kind === 'events' && result.events[0]?.event).toMatchObject({
      type: 'ticket.reopened',
      requester: { email: 'ann@example.com' },
    });
  });

  it.each([
    [
      'a status change between open statuses',
      'issue-updated-in-progress',
      /"To Do" → "In Progress" neither closes nor reopens/,
    ],
    ['a change of another field', 'issue-updated-summary', /does not change the status/],
    ['another event', 'issue-created', /"jira:issue_created" is not an issue update/],
  ])('When Jira sends %s, then it is ignored with a reason', (_label, fixture, reason) => {
    expect(deliver(signed(readJiraFixture(fixture)))).toEqual({
      kind: 'ignored',
      reason: expect.stringMatching(reason),
    });
  });

  it('When the secret is rotated, then the second secret verifies; a wrong secret is INVALID_SIGNATURE', () => {
    const body = readJiraFixture('issue-updated-done');
    expect(() =>
      preset.authenticate(
        signed(body, 'next-jira-secret-0123456789'),
        settings({ secrets: [SECRET, 'next-jira-secret-0123456789'] }),
      ),
    ).not.toThrow();
    expect(codeOf(() => preset.authenticate(signed(body, 'not-the-secret-0123456789'), settings()))).toBe(
      'INVALID_SIGNATURE',
    );
  });

  it('When X-Hub-Signature is missing or malformed, then MISSING_ / INVALID_SIGNATURE_HEADERS', () => {
    const req = signed(readJiraFixture('issue-updated-done'));
    const headers = { ...req.headers };
    delete headers['x-hub-signature'];
    expect(codeOf(() => preset.authenticate({ ...req, headers }, settings()))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
    const bare = { ...req, headers: { ...req.headers, 'x-hub-signature': 'f'.repeat(64) } };
    expect(codeOf(() => preset.authenticate(bare, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
  });

  it('When a genuine body is not Jira-shaped, then INVALID_BODY', () => {
    const req = signed({});
    expect(codeOf(() => preset.map([], req, settings()))).toBe('INVALID_BODY');
    expect(codeOf(() => preset.map({ issue: { key: 'PROJ-1' } }, req, settings()))).toBe('INVALID_BODY');
    expect(
      codeOf(() =>
        preset.map({ webhookEvent: 'jira:issue_updated', issue: { key: 'not a key' } }, req, settings()),
      ),
    ).toBe('INVALID_BODY');
  });
});
