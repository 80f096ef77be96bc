import { describe, expect, it } from '@jest/globals';
import { sign as octokitSign, verify as octokitVerify } from '@octokit/webhooks-methods';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SourceRequest } from '../src/index.js';
import { githubDelivery, readGithubFixture } from './fixtures/github.js';
import { codeOf, NOW, presetUnderTest } from './support.js';

const SECRET = 'gh-webhook-secret-0123456789';
const example = JSON.parse(
  readFileSync(new URL('./fixtures/github/signature-example.json', import.meta.url), 'utf8'),
) as { secret: string; payload: string; signature: string; header: string };
const { preset, settings, request, deliver } = presetUnderTest('github', { secret: SECRET });

function signed(
  body: string | Buffer,
  event = 'issues',
  secret = SECRET,
  delivery = 'd6d0b3f0-8d2a-11ee-9d5e-1b2f1c0a0001',
): SourceRequest {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return request(raw, {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`,
  });
}

describe('github preset', () => {
  it("When GitHub's published example is checked, then our verifier accepts its signature and refuses a changed one", () => {
    const req = request(example.payload, {
      'x-github-event': 'ping',
      'x-github-delivery': 'x',
      'x-hub-signature-256': example.header,
    });
    expect(example.header).toBe(`sha256=${example.signature}`);
    expect(() => preset.authenticate(req, settings({ secrets: [example.secret] }))).not.toThrow();
    const tampered = { ...req, rawBody: Buffer.from('Hello, World?') };
    expect(codeOf(() => preset.authenticate(tampered, settings({ secrets: [example.secret] })))).toBe(
      'INVALID_SIGNATURE',
    );
  });

  it('When @octokit/webhooks-methods signs or verifies, then it agrees with our verifier and the test builder', async () => {
    expect(await octokitSign(example.secret, example.payload)).toBe(example.header);
    const delivery = githubDelivery({
      secret: SECRET,
      ticketRef: 'acme/app#12',
      closed: true,
      now: NOW,
      url: 'http://127.0.0.1/webhooks/github',
    });
    expect(await octokitVerify(SECRET, delivery.body, delivery.headers['x-hub-signature-256'] ?? '')).toBe(
      true,
    );
  });

  it('When an issue is closed, then one ticket.closed event for owner/repo#number keyed by X-GitHub-Delivery', () => {
    const result = deliver(signed(JSON.stringify(readGithubFixture('issues-closed'))));
    expect(result).toEqual({
      kind: 'events',
      ignored: [],
      events: [
        {
          idempotencyKey: 'd6d0b3f0-8d2a-11ee-9d5e-1b2f1c0a0001',
          event: {
            type: 'ticket.closed',
            occurredAt: '2021-07-05T18:07:10.000Z',
            ticket: {
              id: 'Codertocat/Hello-World#1',
              url: 'https://github.com/Codertocat/Hello-World/issues/1',
            },
          },
        },
      ],
    });
  });

  it('When an issue is reopened, then ticket.reopened at updated_at (closed_at still holds the old close)', () => {
    const result = deliver(signed(JSON.stringify(readGithubFixture('issues-reopened'))));
    expect(result.kind === 'events' && result.events[0]?.event).toMatchObject({
      type: 'ticket.reopened',
      occurredAt: '2021-10-11T16:40:56.000Z',
      ticket: { id: 'Codertocat/Hello-World#1' },
    });
  });

  it('When GitHub redelivers, then the idempotency key is the same', () => {
    const body = JSON.stringify(readGithubFixture('issues-closed'));
    const first = deliver(signed(body));
    const again = deliver(signed(body));
    expect(first.kind === 'events' && again.kind === 'events').toBe(true);
    if (first.kind === 'events' && again.kind === 'events') {
      expect(again.events[0]?.idempotencyKey).toBe(first.events[0]?.idempotencyKey);
    }
  });

  it('When the builder makes a delivery, then the preset maps it back to the ticket reference it was given', () => {
    for (const closed of [true, false]) {
      const delivery = githubDelivery({
        secret: SECRET,
        ticketRef: 'acme/app#12',
        closed,
        now: NOW,
        url: 'http://127.0.0.1/webhooks/github',
      });
      const result = deliver(request(delivery.body, delivery.headers));
      expect(result.kind === 'events' && result.events[0]?.event).toMatchObject({
        type: closed ? 'ticket.closed' : 'ticket.reopened',
        occurredAt: NOW.toISOString(),
        ticket: { id: 'acme/app#12', url: 'https://github.com/acme/app/issues/12' },
      });
    }
  });

  it.each([
    ['a ping', 'ping', readGithubFixture('ping'), /ping/],
    ['another event', 'push', readGithubFixture('issues-closed'), /"push" is not about issues/],
    [
      'another issues action',
      'issues',
      readGithubFixture('issues-labeled'),
      /"labeled" neither closes nor reopens/,
    ],
  ])('When GitHub sends %s, then it is ignored with a reason', (_label, event, body, reason) => {
    const result = deliver(signed(JSON.stringify(body), event));
    expect(result).toEqual({ kind: 'ignored', reason: expect.stringMatching(reason) });
  });

  it('When the secret is rotated, then a delivery signed with the second secret verifies', () => {
    const req = signed(
      JSON.stringify(readGithubFixture('issues-closed')),
      'issues',
      'the-new-secret-0123456789',
    );
    expect(() =>
      preset.authenticate(req, settings({ secrets: [SECRET, 'the-new-secret-0123456789'] })),
    ).not.toThrow();
  });

  it('When the secret is wrong or the body changed, then INVALID_SIGNATURE', () => {
    const body = JSON.stringify(readGithubFixture('issues-closed'));
    expect(
      codeOf(() => preset.authenticate(signed(body, 'issues', 'someone-elses-secret-000'), settings())),
    ).toBe('INVALID_SIGNATURE');
    const changed = { ...signed(body), rawBody: Buffer.from(body.replace('"number":1', '"number":2')) };
    expect(codeOf(() => preset.authenticate(changed, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When a body is not valid UTF-8, then its signature is over its exact bytes: a look-alike body does not verify', () => {
    // \xff and \xfe both decode to U+FFFD; a string-based check would let one body's signature verify the other.
    const original = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
    const lookAlike = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xfe, 0x22, 0x7d]);
    const req = { ...signed(original), rawBody: lookAlike };
    expect(codeOf(() => preset.authenticate(req, settings()))).toBe('INVALID_SIGNATURE');
  });

  it('When headers are missing, then MISSING_SIGNATURE_HEADERS; when malformed, then INVALID_SIGNATURE_HEADERS', () => {
    const req = signed(JSON.stringify(readGithubFixture('issues-closed')));
    const without = (name: string): SourceRequest => {
      const headers = { ...req.headers };
      delete headers[name];
      return { ...req, headers };
    };
    expect(codeOf(() => preset.authenticate(without('x-hub-signature-256'), settings()))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
    expect(codeOf(() => preset.authenticate(without('x-github-event'), settings()))).toBe(
      'MISSING_SIGNATURE_HEADERS',
    );
    for (const value of ['sha1=abc', 'sha256=xyz', 'sha256=' + 'a'.repeat(63)]) {
      const malformed = { ...req, headers: { ...req.headers, 'x-hub-signature-256': value } };
      expect(codeOf(() => preset.authenticate(malformed, settings()))).toBe('INVALID_SIGNATURE_HEADERS');
    }
  });

  it('When a genuine body is not an issues event of GitHub shape, then INVALID_BODY', () => {
    const req = signed('[]');
    expect(codeOf(() => preset.map([], req, settings()))).toBe('INVALID_BODY');
    expect(codeOf(() => preset.map({ action: 'closed', issue: { number: 1 } }, req, settings()))).toBe(
      'INVALID_BODY',
    );
    expect(
      codeOf(() =>
        preset.map(
          { action: 'closed', repository: { full_name: 'a/b' }, issue: { number: '1' } },
          req,
          settings(),
        ),
      ),
    ).toBe('INVALID_BODY');
  });
});
