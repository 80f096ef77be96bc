import { headerOf, malformedHttpRequests, sendRawHttp, type RawExchange } from '@closeloop/test-support';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  expectNothingEnqueued,
  sampleEvent,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

/**
 * Requests Node's HTTP server would answer by itself, before any route runs, with a bare status
 * and an empty body (a missing Host, an unmet Expect, a request it cannot parse). Raw sockets,
 * because fetch always sends Host and never an arbitrary Expect. Each must get the error shape of
 * every other answer (docs/contracts.md, "HTTP") and an x-request-id, and must never be enqueued.
 */
describe('Answers Node would give on its own', () => {
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

  function expectErrorShape(response: RawExchange, status: number, code: string): void {
    expect({ status: response.status, body: JSON.parse(response.body) as unknown }).toEqual({
      status,
      body: { error: { code, message: expect.any(String) } },
    });
    expect(headerOf(response.head, 'content-type')).toMatch(/^application\/json/);
    expect(headerOf(response.head, 'x-request-id')).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  }

  const signedRequest = (extraHeaders: string, withHost = true): string => {
    const body = JSON.stringify(sampleEvent);
    const headers = signedHeaders(secret, body);
    return (
      `POST /webhooks/events HTTP/1.1\r\n${withHost ? `Host: ${host}\r\n` : ''}Connection: close\r\n` +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `${extraHeaders}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    );
  };

  it('When an HTTP/1.1 request has no Host header, then 400 BAD_REQUEST in the error shape with a request id', async () => {
    const response = await sendRawHttp(receiver.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expectErrorShape(response, 400, 'BAD_REQUEST');
    expect(JSON.parse(response.body)).toMatchObject({ error: { message: expect.stringContaining('Host') } });
  });

  it('When a genuine signed event arrives without a Host header, then 400 BAD_REQUEST and nothing is enqueued', async () => {
    expectErrorShape(await sendRawHttp(receiver.url, signedRequest('', false)), 400, 'BAD_REQUEST');
  });

  it('When an HTTP/1.0 request has no Host header, then it is served (Host is an HTTP/1.1 rule)', async () => {
    const response = await sendRawHttp(receiver.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it.each(['200-ok', 'x-foo', '100-continuous', ''])(
    'When Expect is %j, then 417 EXPECTATION_FAILED in the error shape with a request id, and nothing is enqueued',
    async (expectation) => {
      const response = await sendRawHttp(receiver.url, signedRequest(`Expect: ${expectation}\r\n`));
      expectErrorShape(response, 417, 'EXPECTATION_FAILED');
    },
  );

  it('When Expect is 100-continue, then the event is accepted after a 100 Continue', async () => {
    const response = await sendRawHttp(receiver.url, signedRequest('Expect: 100-continue\r\n'));
    try {
      expect(response.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
      expect(response.status).toBe(202);
      expect(JSON.parse(response.body)).toEqual({ jobId: expect.any(String), duplicate: false });
      expect(await receiver.jobCount()).toBe(1);
    } finally {
      await receiver.clear();
    }
  });

  it.each(malformedHttpRequests('/v1/task-updates'))(
    'When the request has %s, then %i %s in the error shape with a request id',
    async (_name, status, code, request) => {
      expectErrorShape(await sendRawHttp(receiver.url, request), status, code);
    },
  );
});
