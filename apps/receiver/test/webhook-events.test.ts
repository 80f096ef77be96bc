import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { jobIdFor } from '@closeloop/queue';
import {
  createWebhookSecret,
  expectError,
  expectNothingEnqueued,
  postWebhook,
  sampleEvent,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

const minutes = (n: number): Date => new Date(Date.now() + n * 60_000);

describe('POST /webhooks/events with a genuine delivery', () => {
  const oldSecret = createWebhookSecret();
  const newSecret = createWebhookSecret();
  let receiver: TestReceiver;

  beforeAll(async () => {
    // Mid-rotation: both the old and the new secret are configured.
    receiver = await startTestReceiver({ WEBHOOK_SECRET: `${oldSecret} ${newSecret}` });
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('When a correctly signed event arrives, then 202 with the job id, and the job in Redis holds exactly what was sent', async () => {
    const body = JSON.stringify(sampleEvent);
    const response = await postWebhook(
      receiver.url,
      body,
      signedHeaders(oldSecret, body, { id: 'msg_first' }),
    );

    expect(response.status).toBe(202);
    const answer = (await response.json()) as { jobId: string; duplicate: boolean };
    expect(answer).toEqual({ jobId: jobIdFor('events', 'msg_first'), duplicate: false });
    const job = await receiver.tasks.getJob(answer.jobId);
    expect(job?.data).toEqual({
      v: 1,
      source: 'events',
      idempotencyKey: 'msg_first',
      event: sampleEvent,
      receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(await job?.getState()).toBe('waiting');
  });

  it('When the same webhook-id is delivered again, then 202 duplicate:true and the first job is unchanged', async () => {
    const first = JSON.stringify({
      ...sampleEvent,
      ghl: { ...sampleEvent.ghl, taskId: 'taskRedelivered01' },
    });
    const firstAnswer = await postWebhook(
      receiver.url,
      first,
      signedHeaders(oldSecret, first, { id: 'msg_again' }),
    );
    expect(firstAnswer.status).toBe(202);
    const jobsBefore = await receiver.jobCount();

    const again = JSON.stringify({ ...sampleEvent, type: 'ticket.reopened' });
    const response = await postWebhook(
      receiver.url,
      again,
      signedHeaders(newSecret, again, { id: 'msg_again' }),
    );

    expect(response.status).toBe(202);
    expect(await response.json()).toEqual({ jobId: jobIdFor('events', 'msg_again'), duplicate: true });
    expect(await receiver.jobCount()).toBe(jobsBefore);
    const job = await receiver.tasks.getJob(jobIdFor('events', 'msg_again'));
    expect(job?.data.event).toEqual(JSON.parse(first));
  });

  it('When the event is signed with the second of two configured secrets, then it is accepted', async () => {
    const body = JSON.stringify(sampleEvent);
    const response = await postWebhook(receiver.url, body, signedHeaders(newSecret, body));
    expect(response.status).toBe(202);
  });

  it('When webhook-signature lists several signatures and only the last one matches, then it is accepted', async () => {
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(newSecret, body);
    const stranger = signedHeaders(createWebhookSecret(), body, {
      id: headers['webhook-id'],
      at: new Date(Number(headers['webhook-timestamp']) * 1000),
    });
    headers['webhook-signature'] =
      `${stranger['webhook-signature']} v1a,bm90LWVkMjU1MTk= ${headers['webhook-signature']}`;
    const response = await postWebhook(receiver.url, body, headers);
    expect(response.status).toBe(202);
  });

  it('When a reopened ticket comes without the optional ticket and locationId, then it is accepted as sent', async () => {
    const event = {
      type: 'ticket.reopened',
      occurredAt: '2026-11-28T11:00:00Z',
      ghl: { contactId: 'c1', taskId: 't1' },
    };
    const body = JSON.stringify(event);
    const response = await postWebhook(
      receiver.url,
      body,
      signedHeaders(oldSecret, body, { id: 'msg_minimal' }),
    );
    expect(response.status).toBe(202);
    const job = await receiver.tasks.getJob(jobIdFor('events', 'msg_minimal'));
    expect(job?.data.event).toEqual(event);
  });

  it('When Content-Type carries charset=utf-8, then it is accepted', async () => {
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(oldSecret, body, { contentType: 'Application/JSON; charset="UTF-8"' });
    expect((await postWebhook(receiver.url, body, headers)).status).toBe(202);
  });

  it('When the signature is 4 minutes old or 4 minutes ahead, then it is within the tolerance and accepted', async () => {
    const body = JSON.stringify(sampleEvent);
    const past = await postWebhook(receiver.url, body, signedHeaders(oldSecret, body, { at: minutes(-4) }));
    const future = await postWebhook(receiver.url, body, signedHeaders(oldSecret, body, { at: minutes(4) }));
    expect([past.status, future.status]).toEqual([202, 202]);
  });
});

describe('POST /webhooks/events refusing a delivery', () => {
  const rotatedOut = createWebhookSecret();
  const current = createWebhookSecret();
  const next = createWebhookSecret();
  const body = JSON.stringify(sampleEvent);
  let receiver: TestReceiver;

  beforeAll(async () => {
    receiver = await startTestReceiver({ WEBHOOK_SECRET: `${current} ${next}`, BODY_LIMIT: '256kb' });
  });
  afterEach(async () => {
    await expectNothingEnqueued(receiver);
  });
  afterAll(async () => {
    await receiver.close();
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])(
    'When the %s header is missing, then 401 MISSING_SIGNATURE_HEADERS and nothing is enqueued',
    async (header) => {
      const headers = signedHeaders(current, body);
      delete headers[header];
      const error = await expectError(
        await postWebhook(receiver.url, body, headers),
        401,
        'MISSING_SIGNATURE_HEADERS',
      );
      expect(error.message).toContain(header);
    },
  );

  it('When the signature was made with an unknown secret, then 401 INVALID_SIGNATURE and nothing is enqueued', async () => {
    await expectError(
      await postWebhook(receiver.url, body, signedHeaders(createWebhookSecret(), body)),
      401,
      'INVALID_SIGNATURE',
    );
  });

  it('When the signature was made with a rotated-out secret, then 401 INVALID_SIGNATURE and nothing is enqueued', async () => {
    await expectError(
      await postWebhook(receiver.url, body, signedHeaders(rotatedOut, body)),
      401,
      'INVALID_SIGNATURE',
    );
  });

  it('When the body was changed after signing, then 401 INVALID_SIGNATURE and nothing is enqueued', async () => {
    const headers = signedHeaders(current, body);
    const tampered = body.replace('ticket.closed', 'ticket.reopened');
    await expectError(await postWebhook(receiver.url, tampered, headers), 401, 'INVALID_SIGNATURE');
  });

  it('When the body was re-serialised after signing (same JSON, other bytes), then 401 INVALID_SIGNATURE', async () => {
    const headers = signedHeaders(current, body);
    const reformatted = JSON.stringify(sampleEvent, null, 2);
    await expectError(await postWebhook(receiver.url, reformatted, headers), 401, 'INVALID_SIGNATURE');
  });

  it('When the signature is not base64 of the right HMAC, then 401 INVALID_SIGNATURE', async () => {
    const headers = { ...signedHeaders(current, body), 'webhook-signature': 'v1,not-a-signature' };
    await expectError(await postWebhook(receiver.url, body, headers), 401, 'INVALID_SIGNATURE');
  });

  it('When the signature is 6 minutes old, then 401 SIGNATURE_EXPIRED and nothing is enqueued', async () => {
    await expectError(
      await postWebhook(receiver.url, body, signedHeaders(current, body, { at: minutes(-6) })),
      401,
      'SIGNATURE_EXPIRED',
    );
  });

  it('When the signature is 6 minutes in the future, then 401 SIGNATURE_EXPIRED and nothing is enqueued', async () => {
    await expectError(
      await postWebhook(receiver.url, body, signedHeaders(current, body, { at: minutes(6) })),
      401,
      'SIGNATURE_EXPIRED',
    );
  });

  it('When webhook-timestamp is in milliseconds or not a number, then 401 INVALID_SIGNATURE_HEADERS', async () => {
    for (const timestamp of [String(Date.now()), '17e8', '1795940000abc', '-1']) {
      const headers = { ...signedHeaders(current, body), 'webhook-timestamp': timestamp };
      await expectError(await postWebhook(receiver.url, body, headers), 401, 'INVALID_SIGNATURE_HEADERS');
    }
  });

  it('When webhook-id is longer than an idempotency key may be, then 401 INVALID_SIGNATURE_HEADERS', async () => {
    const headers = signedHeaders(current, body, { id: `msg_${'x'.repeat(300)}` });
    await expectError(await postWebhook(receiver.url, body, headers), 401, 'INVALID_SIGNATURE_HEADERS');
  });

  it('When an unsigned body is also invalid JSON, then the answer is 401, not 400: authentication comes first', async () => {
    await expectError(
      await postWebhook(receiver.url, '{not json', { 'content-type': 'application/json' }),
      401,
      'MISSING_SIGNATURE_HEADERS',
    );
  });

  it('When a signed body is not JSON, then 400 INVALID_JSON and nothing is enqueued', async () => {
    const broken = '{"type": "ticket.closed",';
    await expectError(
      await postWebhook(receiver.url, broken, signedHeaders(current, broken)),
      400,
      'INVALID_JSON',
    );
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['a form post', 'application/x-www-form-urlencoded'],
    ['JSON in another charset', 'application/json; charset=iso-8859-1'],
    ['a JSON look-alike type', 'application/jsonx'],
  ])(
    'When the Content-Type is %s, then 415 UNSUPPORTED_MEDIA_TYPE and nothing is enqueued',
    async (_name, type) => {
      await expectError(
        await postWebhook(receiver.url, body, signedHeaders(current, body, { contentType: type })),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    },
  );

  it('When the Content-Type is missing, then 415 UNSUPPORTED_MEDIA_TYPE and nothing is enqueued', async () => {
    const headers = signedHeaders(current, body, { contentType: null });
    // fetch adds text/plain to a string body; a Uint8Array body goes without a Content-Type.
    const response = await fetch(`${receiver.url}/webhooks/events`, {
      method: 'POST',
      headers,
      body: new TextEncoder().encode(body),
    });
    await expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  const { ghl, ...withoutGhl } = sampleEvent;
  const { type: _type, ...withoutType } = sampleEvent;
  const { ticket: _ticket, ...withoutTicket } = withoutGhl;
  it.each([
    ['a required field is missing', withoutType, ['type']],
    ['neither task ids nor a ticket are given', withoutTicket, ['ticket']],
    ['a nested required field is missing', { ...sampleEvent, ghl: { contactId: 'c1' } }, ['ghl', 'taskId']],
    ['there is an extra field', { ...sampleEvent, priority: 'high' }, []],
    ['there is an extra nested field', { ...sampleEvent, ghl: { ...ghl, token: 'x' } }, ['ghl']],
    ['a field has the wrong type', { ...sampleEvent, occurredAt: 1764324000 }, ['occurredAt']],
    [
      'an id would change the GHL URL',
      { ...sampleEvent, ghl: { ...ghl, taskId: '../../users' } },
      ['ghl', 'taskId'],
    ],
    ['the event type is unknown', { ...sampleEvent, type: 'ticket.deleted' }, ['type']],
    ['the idempotency key is in the body instead of webhook-id', { ...sampleEvent, idempotencyKey: 'k' }, []],
  ])(
    'When %s, then 400 INVALID_BODY naming the field and nothing is enqueued',
    async (_name, event, path) => {
      const invalid = JSON.stringify(event);
      const error = await expectError(
        await postWebhook(receiver.url, invalid, signedHeaders(next, invalid)),
        400,
        'INVALID_BODY',
      );
      expect(error.issues).toEqual(expect.arrayContaining([{ path, message: expect.any(String) }]));
    },
  );

  it('When the body is over BODY_LIMIT, then 413 PAYLOAD_TOO_LARGE and nothing is enqueued', async () => {
    const huge = JSON.stringify({ ...sampleEvent, ticket: { id: 'x'.repeat(300 * 1024) } });
    await expectError(
      await postWebhook(receiver.url, huge, signedHeaders(current, huge)),
      413,
      'PAYLOAD_TOO_LARGE',
    );
  });
});
