import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { jobIdFor } from '@closeloop/queue';
import {
  API_KEY,
  expectError,
  expectNothingEnqueued,
  postInternal,
  postWebhook,
  signedHeaders,
  sampleEvent,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

describe('POST /v1/task-updates with the right key', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('When an internal producer posts an update, then 202 and the job holds the event under source "internal"', async () => {
    const response = await postInternal(
      receiver.url,
      JSON.stringify({ ...sampleEvent, idempotencyKey: 'crm-42' }),
    );

    expect(response.status).toBe(202);
    const answer = (await response.json()) as { jobId: string };
    expect(answer).toEqual({ jobId: jobIdFor('internal', 'crm-42'), duplicate: false });
    const job = await receiver.tasks.getJob(answer.jobId);
    expect(job?.data).toEqual({
      v: 1,
      source: 'internal',
      idempotencyKey: 'crm-42',
      event: sampleEvent,
      receivedAt: expect.any(String),
    });
  });

  it('When the same idempotencyKey is posted again, then 202 duplicate:true and there is still one job for it', async () => {
    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'crm-43' });
    expect((await postInternal(receiver.url, body)).status).toBe(202);
    const before = await receiver.jobCount();

    const again = await postInternal(receiver.url, body);

    expect(again.status).toBe(202);
    expect(await again.json()).toEqual({ jobId: jobIdFor('internal', 'crm-43'), duplicate: true });
    expect(await receiver.jobCount()).toBe(before);
  });

  it('When the same key arrives once by webhook and once internally, then they are two different jobs', async () => {
    // Job ids are per source: an internal producer's key can never swallow a sender's webhook-id.
    const secret = receiver.config.webhookSecrets[0] ?? '';
    const event = JSON.stringify(sampleEvent);
    const byWebhook = await postWebhook(
      receiver.url,
      event,
      signedHeaders(secret, event, { id: 'shared-key' }),
    );
    const internally = await postInternal(
      receiver.url,
      JSON.stringify({ ...sampleEvent, idempotencyKey: 'shared-key' }),
    );

    expect(await byWebhook.json()).toEqual({ jobId: jobIdFor('events', 'shared-key'), duplicate: false });
    expect(await internally.json()).toEqual({ jobId: jobIdFor('internal', 'shared-key'), duplicate: false });
  });

  it('When the scheme is written "bearer" in lower case, then the key is still accepted (RFC 6750)', async () => {
    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'crm-44' });
    const response = await postInternal(receiver.url, body, { authorization: `bearer ${API_KEY}` });
    expect(response.status).toBe(202);
  });
});

describe('POST /v1/task-updates refusing a request', () => {
  let receiver: TestReceiver;
  const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'crm-1' });
  beforeAll(async () => {
    receiver = await startTestReceiver();
  });
  afterEach(async () => {
    await expectNothingEnqueued(receiver);
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('When Authorization is missing, then 401 MISSING_API_KEY with a Bearer challenge and nothing is enqueued', async () => {
    const response = await fetch(`${receiver.url}/v1/task-updates`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    await expectError(response, 401, 'MISSING_API_KEY');
  });

  it.each([
    ['a wrong key', `Bearer ${API_KEY}x`],
    ['a prefix of the key', `Bearer ${API_KEY.slice(0, -1)}`],
    ['the key without the scheme', API_KEY],
    ['the key as Basic credentials', `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}`],
    ['an empty bearer token', 'Bearer '],
  ])(
    'When Authorization carries %s, then 401 INVALID_API_KEY and nothing is enqueued',
    async (_name, authorization) => {
      await expectError(await postInternal(receiver.url, body, { authorization }), 401, 'INVALID_API_KEY');
    },
  );

  it('When the key is wrong and the body is invalid too, then the answer is 401: the key is checked first', async () => {
    await expectError(
      await postInternal(receiver.url, '{oops', { authorization: 'Bearer wrong-key-wrong-key' }),
      401,
      'INVALID_API_KEY',
    );
  });

  it('When idempotencyKey is missing, then 400 INVALID_BODY naming it and nothing is enqueued', async () => {
    const error = await expectError(
      await postInternal(receiver.url, JSON.stringify(sampleEvent)),
      400,
      'INVALID_BODY',
    );
    expect(error.issues).toEqual([{ path: ['idempotencyKey'], message: expect.any(String) }]);
  });

  it('When idempotencyKey contains spaces, then 400 INVALID_BODY and nothing is enqueued', async () => {
    const error = await expectError(
      await postInternal(receiver.url, JSON.stringify({ ...sampleEvent, idempotencyKey: 'a b' })),
      400,
      'INVALID_BODY',
    );
    expect(error.issues?.[0]?.path).toEqual(['idempotencyKey']);
  });

  it('When several fields are wrong, then every problem is listed at once', async () => {
    const error = await expectError(
      await postInternal(
        receiver.url,
        JSON.stringify({
          type: 'ticket.merged',
          occurredAt: 'yesterday',
          ghl: { contactId: '../users', taskId: 'task 1' },
          idempotencyKey: 'k',
          extra: 1,
        }),
      ),
      400,
      'INVALID_BODY',
    );
    const paths = error.issues?.map((issue) => issue.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['type', 'occurredAt', 'ghl.contactId', 'ghl.taskId', '']));
  });

  it('When the body is not JSON, then 400 INVALID_JSON and nothing is enqueued', async () => {
    await expectError(await postInternal(receiver.url, "{'single': 'quotes'}"), 400, 'INVALID_JSON');
  });

  it('When the Content-Type is not JSON, then 415 UNSUPPORTED_MEDIA_TYPE and nothing is enqueued', async () => {
    await expectError(
      await postInternal(receiver.url, body, { 'content-type': 'text/plain' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('When the body is over BODY_LIMIT, then 413 PAYLOAD_TOO_LARGE and nothing is enqueued', async () => {
    const huge = JSON.stringify({
      ...sampleEvent,
      idempotencyKey: 'k',
      ticket: { id: 'x'.repeat(257 * 1024) },
    });
    await expectError(await postInternal(receiver.url, huge), 413, 'PAYLOAD_TOO_LARGE');
  });

  it.each(['GET', 'PUT', 'PATCH', 'DELETE'])(
    'When the method is %s, then 405 METHOD_NOT_ALLOWED with Allow: POST',
    async (method) => {
      const response = await fetch(`${receiver.url}/v1/task-updates`, { method });
      expect(response.headers.get('allow')).toBe('POST');
      await expectError(response, 405, 'METHOD_NOT_ALLOWED');
    },
  );
});
