import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  expectNothingEnqueued,
  sampleEvent,
  signedHeaders,
  startTestReceiver,
  type TestReceiver,
} from './helpers.js';

interface RawExchange {
  status: number;
  head: string;
  body: string;
  /** Everything the server sent, interim answers (100 Continue) included. */
  text: string;
}

/**
 * Writes `request` as it is on a fresh connection and reads until the server closes it (every
 * request here says `Connection: close`, or is one Node refuses). Unlike helpers.ts sendRaw it does
 * not half-close first: on a half-closed connection, the final answer after a 100 Continue never came.
 */
function sendRaw(baseUrl: string, request: string): Promise<RawExchange> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // The final answer: past any interim 1xx answers.
      const final = text.replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      const separator = final.indexOf('\r\n\r\n');
      const head = separator === -1 ? final : final.slice(0, separator);
      const body = separator === -1 ? '' : final.slice(separator + 4);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body, text });
    });
  });
}

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

  /** The header value of `name` in a raw response head, lower-cased name match. */
  const headerOf = (head: string, name: string): string | undefined =>
    head
      .split('\r\n')
      .slice(1)
      .map((line) => /^([^:]+):\s*(.*)$/.exec(line))
      .find((match) => match?.[1]?.toLowerCase() === name)?.[2];

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
    const response = await sendRaw(receiver.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expectErrorShape(response, 400, 'BAD_REQUEST');
    expect(JSON.parse(response.body)).toMatchObject({ error: { message: expect.stringContaining('Host') } });
  });

  it('When a genuine signed event arrives without a Host header, then 400 BAD_REQUEST and nothing is enqueued', async () => {
    expectErrorShape(await sendRaw(receiver.url, signedRequest('', false)), 400, 'BAD_REQUEST');
  });

  it('When an HTTP/1.0 request has no Host header, then it is served (Host is an HTTP/1.1 rule)', async () => {
    const response = await sendRaw(receiver.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it.each(['200-ok', 'x-foo', '100-continuous', ''])(
    'When Expect is %j, then 417 EXPECTATION_FAILED in the error shape with a request id, and nothing is enqueued',
    async (expectation) => {
      const response = await sendRaw(receiver.url, signedRequest(`Expect: ${expectation}\r\n`));
      expectErrorShape(response, 417, 'EXPECTATION_FAILED');
    },
  );

  it('When Expect is 100-continue, then the event is accepted after a 100 Continue', async () => {
    const response = await sendRaw(receiver.url, signedRequest('Expect: 100-continue\r\n'));
    try {
      expect(response.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
      expect(response.status).toBe(202);
      expect(JSON.parse(response.body)).toEqual({ jobId: expect.any(String), duplicate: false });
      expect(await receiver.jobCount()).toBe(1);
    } finally {
      await receiver.clear();
    }
  });

  it.each([
    ['a garbage request line', 400, 'BAD_REQUEST', 'HELLO THERE\r\n\r\n'],
    ['a header without a colon', 400, 'BAD_REQUEST', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n'],
    [
      'conflicting Content-Length headers',
      400,
      'BAD_REQUEST',
      'POST /v1/task-updates HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}',
    ],
    [
      'headers over 16 KiB',
      431,
      'HEADERS_TOO_LARGE',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nx-filler: ${'a'.repeat(20_000)}\r\n\r\n`,
    ],
  ])(
    'When the request has %s, then %i %s in the error shape with a request id',
    async (_name, status, code, request) => {
      expectErrorShape(await sendRaw(receiver.url, request), status, code);
    },
  );
});
