import { headerOf, malformedHttpRequests, sendRawHttp, type RawExchange } from '@closeloop/test-support';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLogger, startOpsServer, type OpsServer } from '../src/index.js';

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
    const response = await sendRawHttp(server.url, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    expectErrorShape(response, 400, 'BAD_REQUEST');
    expect(JSON.parse(response.body)).toMatchObject({ error: { message: expect.stringContaining('Host') } });
  });

  it('When an HTTP/1.0 request has no Host header, then it is served (Host is an HTTP/1.1 rule)', async () => {
    const response = await sendRawHttp(server.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
    expect(headerOf(response.head, 'x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each(['200-ok', 'x-foo', '100-continuous', ''])(
    'When Expect is %j, then 417 EXPECTATION_FAILED in the error shape with a request id',
    async (expectation) => {
      const response = await sendRawHttp(
        server.url,
        `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nExpect: ${expectation}\r\n\r\n`,
      );
      expectErrorShape(response, 417, 'EXPECTATION_FAILED');
    },
  );

  it('When Expect is 100-continue, then the request is served after a 100 Continue', async () => {
    const response = await sendRawHttp(
      server.url,
      `GET /healthz HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(response.text).toMatch(/^HTTP\/1\.1 100 Continue\r\n/);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
  });

  it.each(malformedHttpRequests('/healthz'))(
    'When the request has %s, then %i %s in the error shape with a request id',
    async (_name, status, code, request) => {
      const response = await sendRawHttp(server.url, request);
      expectErrorShape(response, status, code);
      expect(headerOf(response.head, 'cache-control')).toBe('no-store');
    },
  );
});
