import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger, startOpsServer, type OpsServer } from '../src/index.js';

interface RawExchange {
  status: number;
  head: string;
  body: string;
  /** Everything the server sent, interim answers (100 Continue) included. */
  text: string;
}

/**
 * Writes `request` as it is on a fresh connection and reads until the server closes it (every
 * request here says `Connection: close`, is HTTP/1.0, or is one Node refuses), as in
 * apps/receiver/test/node-answers.test.ts.
 */
function sendRaw(baseUrl: string, request: string): Promise<RawExchange> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      socket.destroy();
      reject(error);
    });
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // The final answer: past any interim 1xx answers.
      const final = text.replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      const separator = final.indexOf('\r\n\r\n');
      const head = separator === -1 ? final : final.slice(0, separator);
      const body = separator === -1 ? '' : final.slice(separator + 4);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body, text });
    });
  });
}

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
  expect(headerOf(response.head, 'content-type')).toBe('application/json; charset=utf-8');
  expect(headerOf(response.head, 'x-request-id')).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
}

/**
 * Requests Node's HTTP server would answer by itself, before the handler runs, with a bare status
 * and an empty body (a missing Host, an unmet Expect, a request it cannot parse). Raw sockets,
 * because fetch always sends Host and never an arbitrary Expect. Each must get the ops server's
 * error shape and an x-request-id, like every other answer of the listener.
 */
describe('startOpsServer: answers Node would give on its own', () => {
  let server: OpsServer;
  let host: string;

  beforeAll(async () => {
    server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      logger: createLogger({ service: 'test', level: 'silent' }),
      metrics: () => Promise.resolve('# TYPE up gauge\nup 1\n'),
    });
    host = new URL(server.url).host;
  });
  afterAll(async () => {
    await server.close();
  });

  it('When an HTTP/1.1 request has no Host header, then 400 BAD_REQUEST in the error shape with a request id', async () => {
    const response = await sendRaw(server.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expectErrorShape(response, 400, 'BAD_REQUEST');
    expect(JSON.parse(response.body)).toMatchObject({ error: { message: expect.stringContaining('Host') } });
  });

  it('When an HTTP/1.0 request has no Host header, then it is served (Host is an HTTP/1.1 rule)', async () => {
    const response = await sendRaw(server.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
    expect(headerOf(response.head, 'x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each(['200-ok', 'x-foo', '100-continuous', ''])(
    'When Expect is %j, then 417 EXPECTATION_FAILED in the error shape with a request id',
    async (expectation) => {
      const response = await sendRaw(
        server.url,
        `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nExpect: ${expectation}\r\n\r\n`,
      );
      expectErrorShape(response, 417, 'EXPECTATION_FAILED');
    },
  );

  it('When Expect is 100-continue, then the request is served after a 100 Continue', async () => {
    const response = await sendRaw(
      server.url,
      `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(response.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it.each([
    ['a garbage request line', 'HELLO THERE\r\n\r\n'],
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n'],
    [
      'conflicting Content-Length headers',
      'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}',
    ],
  ])(
    'When the request has %s, then 400 BAD_REQUEST in the error shape with a request id',
    async (_name, request) => {
      const response = await sendRaw(server.url, request);
      expectErrorShape(response, 400, 'BAD_REQUEST');
      expect(headerOf(response.head, 'cache-control')).toBe('no-store');
    },
  );
});
