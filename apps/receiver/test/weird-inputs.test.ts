import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  API_KEY,
  expectError,
  expectNothingEnqueued,
  postInternal,
  postWebhook,
  sampleEvent,
  sendRaw,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

/**
 * Nothing a sender can send may produce a 500: every input below gets a 4xx with a code, in the
 * error shape, and never a job.
 */
describe('Inputs no sender should send', () => {
  let receiver: TestReceiver;
  let secret: string;
  let host: string;

  beforeAll(async () => {
    receiver = await startTestReceiver();
    secret = receiver.config.webhookSecrets[0] ?? '';
    host = new URL(receiver.url).host;
  });
  afterEach(async () => {
    await expectNothingEnqueued(receiver);
  });
  afterAll(async () => {
    await receiver.close();
  });

  afterEach(async () => {
    // No 500 so far, also for requests whose answers were not inspected closely.
    const metrics = await (await fetch(`${receiver.adminUrl}/metrics`)).text();
    expect(metrics).not.toContain('code="INTERNAL"');
  });

  const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

  it.each([
    ['an empty body', 'INVALID_JSON', ''],
    ['only whitespace', 'INVALID_JSON', '  \n '],
    ['JSON null', 'INVALID_BODY', 'null'],
    ['a JSON array', 'INVALID_BODY', '[]'],
    ['an array of events', 'INVALID_BODY', JSON.stringify([sampleEvent])],
    ['a JSON string', 'INVALID_BODY', '"ticket.closed"'],
    ['a huge number', 'INVALID_BODY', '1e400'],
    [
      'a huge number in a field',
      'INVALID_BODY',
      JSON.stringify({ ...sampleEvent, occurredAt: 1 }).replace(':1,', ':1e400,'),
    ],
    ['a 100,000-digit number', 'INVALID_BODY', '9'.repeat(100_000)],
    ['arrays nested 100,000 deep', 'INVALID_BODY', deep(100_000)],
    ['objects nested 40,000 deep', 'INVALID_BODY', '{"a":'.repeat(40_000) + '1' + '}'.repeat(40_000)],
    [
      'a deep structure inside a field',
      'INVALID_BODY',
      JSON.stringify({ ...sampleEvent, ticket: 'X' }).replace('"X"', deep(100_000)),
    ],
    [
      'a __proto__ key',
      'INVALID_BODY',
      JSON.stringify(sampleEvent).replace('{', '{"__proto__":{"polluted":true},'),
    ],
    [
      'a constructor key',
      'INVALID_BODY',
      JSON.stringify(sampleEvent).replace('{', '{"constructor":{"prototype":{}},'),
    ],
    ['truncated JSON', 'INVALID_JSON', JSON.stringify(sampleEvent).slice(0, 40)],
    ['JSON followed by garbage', 'INVALID_JSON', `${JSON.stringify(sampleEvent)}xyz`],
    ['two JSON documents', 'INVALID_JSON', `${JSON.stringify(sampleEvent)}${JSON.stringify(sampleEvent)}`],
    ['a NUL byte', 'INVALID_JSON', '\u0000'],
  ])('When a signed webhook body is %s, then 400 %s', async (_name, code, body) => {
    await expectError(await postWebhook(receiver.url, body, signedHeaders(secret, body)), 400, code);
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('When the body is not valid UTF-8, then 400 INVALID_JSON (not a lossy decode)', async () => {
    const body = Buffer.concat([
      Buffer.from('{"type":"ticket.closed","x":"'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ]);
    await expectError(
      await postWebhook(receiver.url, body, signedHeaders(secret, body)),
      400,
      'INVALID_JSON',
    );
    await expectError(await postInternal(receiver.url, body), 400, 'INVALID_JSON');
  });

  it('When a free-text field holds a lone surrogate escape, then it is stored as sent, not a 500', async () => {
    const body = JSON.stringify({ ...sampleEvent, ticket: { id: 'X' } }).replace('"X"', '"\\ud800"');
    const headers = signedHeaders(secret, body);
    const response = await postWebhook(receiver.url, body, headers);
    // Valid JSON and a valid JS string; ticket ids are free text the worker never sends to GHL.
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    expect((await receiver.tasks.getJob(jobId))?.data.event.ticket?.id).toBe('\ud800');
    // This file asserts "nothing enqueued" after each test: remove what this one stored.
    await receiver.clear();
  });

  it('When the body is gzip-compressed, then 415 UNSUPPORTED_MEDIA_TYPE rather than an inflated body', async () => {
    const response = await postInternal(receiver.url, Buffer.from([0x1f, 0x8b, 0x08, 0x00]), {
      'content-encoding': 'gzip',
    });
    await expectError(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('When the webhook-id header is sent twice, then 401 INVALID_SIGNATURE_HEADERS', async () => {
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(secret, body, { id: 'msg_one' });
    const response = await sendRaw(
      receiver.url,
      `POST /webhooks/events HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `webhook-id: msg_one\r\nwebhook-id: msg_two\r\n` +
        `webhook-timestamp: ${headers['webhook-timestamp']}\r\nwebhook-signature: ${headers['webhook-signature']}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(response.status).toBe(401);
    expect(JSON.parse(response.body)).toEqual({
      error: { code: 'INVALID_SIGNATURE_HEADERS', message: expect.any(String) },
    });
  });

  it('When webhook-timestamp is sent twice, then 401 INVALID_SIGNATURE_HEADERS', async () => {
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(secret, body);
    const response = await sendRaw(
      receiver.url,
      `POST /webhooks/events HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `webhook-id: ${headers['webhook-id']}\r\n` +
        `webhook-timestamp: ${headers['webhook-timestamp']}\r\nwebhook-timestamp: ${headers['webhook-timestamp']}\r\n` +
        `webhook-signature: ${headers['webhook-signature']}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(response.status).toBe(401);
    expect(response.body).toContain('INVALID_SIGNATURE_HEADERS');
  });

  it('When Authorization is sent twice with a wrong key first, then 401 INVALID_API_KEY (Node keeps the first)', async () => {
    const body = JSON.stringify({ ...sampleEvent, idempotencyKey: 'dup-auth' });
    const response = await sendRaw(
      receiver.url,
      `POST /v1/task-updates HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
        `Authorization: Bearer wrong-key-wrong-key\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    expect(response.status).toBe(401);
    expect(response.body).toContain('INVALID_API_KEY');
  });

  it('When Content-Length is sent twice with different values, then 400 BAD_REQUEST in the error shape', async () => {
    const response = await sendRaw(
      receiver.url,
      `POST /v1/task-updates HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}`,
    );
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body)).toEqual({
      error: { code: 'BAD_REQUEST', message: expect.any(String) },
    });
  });

  it('When the request line is garbage, then 400 BAD_REQUEST', async () => {
    const response = await sendRaw(receiver.url, 'HELLO THERE\r\n\r\n');
    expect(response.status).toBe(400);
    expect(response.body).toContain('BAD_REQUEST');
  });

  it('When the headers are larger than Node accepts, then 431 HEADERS_TOO_LARGE', async () => {
    const response = await sendRaw(
      receiver.url,
      `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nx-filler: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(response.status).toBe(431);
    expect(response.body).toContain('HEADERS_TOO_LARGE');
  });

  it('When the body is shorter than Content-Length and the client gives up, then nothing is enqueued', async () => {
    const response = await sendRaw(
      receiver.url,
      `POST /v1/task-updates HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"type":`,
    );
    // The client half-closed mid-body: there is no one to answer, or a 400.
    expect([0, 400]).toContain(response.status);
  });

  it('When the URL has a broken percent-encoding, then 400 BAD_REQUEST or 404, never 500', async () => {
    for (const path of ['/webhooks/%E0%A4%A', '/webhooks/%', '/v1/%ff']) {
      const response = await fetch(`${receiver.url}${path}`, { method: 'POST', body: '{}' });
      expect([400, 404]).toContain(response.status);
      await expectError(response, response.status, response.status === 400 ? 'BAD_REQUEST' : 'NOT_FOUND');
    }
  });

  it('When a webhook arrives for an unknown source, then 404 UNKNOWN_SOURCE whatever the method', async () => {
    for (const method of ['POST', 'GET']) {
      await expectError(await fetch(`${receiver.url}/webhooks/zendesk`, { method }), 404, 'UNKNOWN_SOURCE');
    }
  });

  it.each(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])(
    'When /webhooks/events is called with %s, then 405 METHOD_NOT_ALLOWED with Allow: POST',
    async (method) => {
      const response = await fetch(`${receiver.url}/webhooks/events`, { method });
      expect(response.headers.get('allow')).toBe('POST');
      await expectError(response, 405, 'METHOD_NOT_ALLOWED');
    },
  );

  it.each(['/healthz', '/readyz'])(
    'When %s is called with POST, then 405 with Allow: GET, HEAD',
    async (path) => {
      const response = await fetch(`${receiver.url}${path}`, { method: 'POST' });
      expect(response.headers.get('allow')).toBe('GET, HEAD');
      await expectError(response, 405, 'METHOD_NOT_ALLOWED');
    },
  );

  it.each(['/', '/webhooks', '/v1', '/v2/task-updates', '/admin/queues', '/metrics', '/.env'])(
    'When %s is requested, then 404 NOT_FOUND in the error shape',
    async (path) => {
      await expectError(await fetch(`${receiver.url}${path}`), 404, 'NOT_FOUND');
    },
  );
});
