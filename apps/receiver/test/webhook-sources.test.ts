import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { expectError, expectNothingEnqueued, startTestReceiver, type TestReceiver } from './helpers.js';

// Sources of SOURCES_FILE on the receiver, through the two presets for senders that sign nothing
// (shared secret + path token). Each vendor's own scheme is tested in packages/sources and end to
// end in e2e/test/senders.test.ts.
const LOCATION = 've9EPM428h8vShlRW1KT';
const DESK_SECRET = 'freshdesk-shared-secret-0123456789';
const DESK_TOKEN = 'pathtoken-0123456789abcdefghijkl';
const SCRIPT_SECRET = 'script-shared-secret-0123456789ab';

const dir = mkdtempSync(join(tmpdir(), 'closeloop-receiver-sources-'));
const sourcesFile = join(dir, 'sources.yaml');
writeFileSync(
  sourcesFile,
  [
    'sources:',
    '  - name: desk',
    '    type: freshdesk',
    '    secretEnv: DESK_SECRET',
    '    pathTokenEnv: DESK_TOKEN',
    `    locationId: ${LOCATION}`,
    '  - name: script',
    '    type: token',
    '    secretEnv: SCRIPT_SECRET',
    "    match: { ticketPattern: '\\[{ticket}\\]' }",
    '',
  ].join('\n'),
);

let receiver: TestReceiver;
beforeAll(async () => {
  receiver = await startTestReceiver({
    SOURCES_FILE: sourcesFile,
    DESK_SECRET,
    DESK_TOKEN,
    SCRIPT_SECRET,
  });
});
afterEach(async () => receiver.clear());
afterAll(async () => {
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

const deskBody = (status: string, updatedAt = '2026-11-28T10:00:00Z'): string =>
  JSON.stringify({ ticket_id: '4711', status, requester_email: 'ana@example.com', updated_at: updatedAt });

function post(path: string, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${receiver.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

const basic = (secret: string): string => `Basic ${Buffer.from(`freshdesk:${secret}`).toString('base64')}`;

describe('POST /webhooks/:source for SOURCES_FILE sources', () => {
  it('When Freshdesk resolves a ticket, then one job carries the ticket, the email and the location, and a redelivery is a duplicate', async () => {
    const first = await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Resolved'), {
      authorization: basic(DESK_SECRET),
    });
    expect(first.status).toBe(202);
    const answer = (await first.json()) as { jobId: string; duplicate: boolean };
    expect(answer).toEqual({ jobId: expect.stringMatching(/^desk-/), duplicate: false });
    const job = await receiver.tasks.getJob(answer.jobId);
    expect(job?.data).toMatchObject({
      v: 1,
      source: 'desk',
      idempotencyKey: '4711:resolved:2026-11-28T10:00:00Z',
      event: {
        type: 'ticket.closed',
        occurredAt: '2026-11-28T10:00:00.000Z',
        ticket: { id: '4711' },
        requester: { email: 'ana@example.com' },
        ghl: { locationId: LOCATION },
      },
    });
    expect(job?.data).not.toHaveProperty('match');

    const again = await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Resolved'), {
      authorization: basic(DESK_SECRET),
    });
    expect(await again.json()).toEqual({ jobId: answer.jobId, duplicate: true });
    expect(await receiver.jobCount()).toBe(1);
  });

  it('When a status neither closes nor reopens, then 202 ignored with a reason and nothing is enqueued', async () => {
    const response = await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Spam'), {
      authorization: basic(DESK_SECRET),
    });
    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ ignored: true, reason: expect.stringContaining('Spam') });
    await expectNothingEnqueued(receiver);
  });

  it.each([
    ['the path token is missing', '/webhooks/desk'],
    ['the path token is wrong', `/webhooks/desk/${DESK_TOKEN.slice(0, -1)}x`],
    ['a source without a path token gets one', `/webhooks/script/${DESK_TOKEN}`],
    ['the source is not configured', '/webhooks/zendesk'],
  ])('When %s, then 404 UNKNOWN_SOURCE and nothing is enqueued', async (_name, path) => {
    await expectError(
      await post(path, deskBody('Resolved'), { authorization: basic(DESK_SECRET) }),
      404,
      'UNKNOWN_SOURCE',
    );
    await expectNothingEnqueued(receiver);
  });

  it.each([
    ['no secret is sent', {}, 401, 'MISSING_SIGNATURE_HEADERS'],
    ['a wrong secret is sent', { authorization: basic(`${DESK_SECRET}x`) }, 401, 'UNAUTHORIZED'],
    ["another source's secret is sent", { 'x-closeloop-secret': SCRIPT_SECRET }, 401, 'UNAUTHORIZED'],
  ])('When %s, then %i %s and nothing is enqueued', async (_name, headers, status, code) => {
    await expectError(
      await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Resolved'), headers),
      status,
      code,
    );
    await expectNothingEnqueued(receiver);
  });

  it('When the genuine body lacks the ticket id, then 400 INVALID_BODY and nothing is enqueued', async () => {
    await expectError(
      await post(`/webhooks/desk/${DESK_TOKEN}`, JSON.stringify({ status: 'Resolved' }), {
        authorization: basic(DESK_SECRET),
      }),
      400,
      'INVALID_BODY',
    );
    await expectNothingEnqueued(receiver);
  });

  it('When the body is not JSON but authenticated, then 400 INVALID_JSON; when not JSON-typed, 415', async () => {
    await expectError(
      await post(`/webhooks/desk/${DESK_TOKEN}`, '{"ticket_id":', { authorization: basic(DESK_SECRET) }),
      400,
      'INVALID_JSON',
    );
    await expectError(
      await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Resolved'), {
        authorization: basic(DESK_SECRET),
        'content-type': 'application/x-www-form-urlencoded',
      }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectNothingEnqueued(receiver);
  });

  it("When a source has its own ticket pattern, then the job carries it for the worker's lookup", async () => {
    const response = await post(
      '/webhooks/script',
      JSON.stringify({ ticket_id: 'OPS-9', status: 'open', ghl_contact_id: '', ghl_task_id: '' }),
      { authorization: `Bearer ${SCRIPT_SECRET}` },
    );
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    const job = await receiver.tasks.getJob(jobId);
    expect(job?.data.match).toEqual({ ticketPattern: '\\[{ticket}\\]' });
    expect(job?.data.event).toMatchObject({ type: 'ticket.reopened', ticket: { id: 'OPS-9' } });
    expect(job?.data.event.ghl).toBeUndefined();
  });

  it('When a GET reaches a configured source, then 405; the events source keeps working beside them', async () => {
    const response = await fetch(`${receiver.url}/webhooks/desk/${DESK_TOKEN}`);
    expect(response.status).toBe(405);
    await response.body?.cancel();
    const events = await fetch(`${receiver.url}/webhooks/events`, { method: 'POST' });
    expect(events.status).toBe(401);
    await events.body?.cancel();
  });

  it('When a secret is sent, then it appears in no log line', async () => {
    await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Closed'), { authorization: basic(DESK_SECRET) });
    await post(`/webhooks/desk/${DESK_TOKEN}`, deskBody('Closed'), {
      authorization: basic('wrong-secret-000000'),
    });
    const logs = receiver.logs.join('\n');
    expect(logs).not.toContain(DESK_SECRET);
    expect(logs).not.toContain(DESK_TOKEN);
    expect(logs).toContain('/webhooks/desk/[REDACTED]');
    expect(logs).not.toContain(Buffer.from(`freshdesk:${DESK_SECRET}`).toString('base64'));
  });
});
