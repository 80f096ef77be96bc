import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createLogger, startOpsServer, type OpsServer, type StartOpsServerOptions } from '../src/index.js';

const servers: OpsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function collectLogs(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

async function start(options: Partial<StartOpsServerOptions> = {}): Promise<OpsServer> {
  const server = await startOpsServer({
    host: '127.0.0.1',
    port: 0,
    logger: createLogger({ service: 'test', level: 'silent' }),
    metrics: () => Promise.resolve('# TYPE up gauge\nup 1\n'),
    ...options,
  });
  servers.push(server);
  return server;
}

async function expectError(response: Response, status: number, code: string): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
  const body = (await response.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(0);
}

describe('startOpsServer', () => {
  it('When /healthz is requested, then 200 {"status":"ok"}, whatever the readiness', async () => {
    const server = await start({ isReady: () => Promise.resolve(false) });
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('When the probe says ready, then /readyz is 200; when it says no or throws, then 503 NOT_READY', async () => {
    let answer: () => Promise<boolean> = () => Promise.resolve(true);
    const server = await start({ isReady: () => answer() });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    answer = () => Promise.resolve(false);
    await expectError(await fetch(`${server.url}/readyz`), 503, 'NOT_READY');

    answer = () => Promise.reject(new Error('ECONNREFUSED'));
    await expectError(await fetch(`${server.url}/readyz`), 503, 'NOT_READY');
  });

  it('When the probe never answers, then /readyz answers 503 NOT_READY within its deadline', async () => {
    const server = await start({ isReady: () => new Promise<boolean>(() => undefined), readyTimeoutMs: 200 });
    const started = Date.now();
    await expectError(await fetch(`${server.url}/readyz`), 503, 'NOT_READY');
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('When /metrics is scraped, then the producer’s text in the Prometheus content type', async () => {
    const server = await start();
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await response.text()).toBe('# TYPE up gauge\nup 1\n');
  });

  it('When the metrics producer hangs or fails, then 503 METRICS_UNAVAILABLE within the deadline, and the failure is logged', async () => {
    const logs = collectLogs();
    let metrics: () => Promise<string> = () => new Promise<string>(() => undefined);
    const server = await start({
      metrics: () => metrics(),
      metricsTimeoutMs: 200,
      logger: createLogger({ service: 'test', level: 'info', destination: logs.stream }),
    });
    const started = Date.now();
    await expectError(await fetch(`${server.url}/metrics`), 503, 'METRICS_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(1_500);

    metrics = () => Promise.reject(new Error('registry exploded'));
    await expectError(await fetch(`${server.url}/metrics`), 503, 'METRICS_UNAVAILABLE');
    expect(logs.lines()).toContainEqual(expect.objectContaining({ msg: 'metrics failed', level: 40 }));
  });

  it('When a probe path is called with POST, then 405 METHOD_NOT_ALLOWED with Allow', async () => {
    const server = await start();
    const response = await fetch(`${server.url}/metrics`, { method: 'POST' });
    expect(response.headers.get('allow')).toBe('GET, HEAD');
    await expectError(response, 405, 'METHOD_NOT_ALLOWED');
  });

  it('When other paths are requested, then the routes are tried in order, and past the last one 404 NOT_FOUND', async () => {
    const seen: string[] = [];
    const first = (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
      seen.push(`first ${req.url ?? ''}`);
      if (req.url === '/board') res.writeHead(200, { 'content-type': 'text/plain' }).end('board');
      else next();
    };
    const second = (req: IncomingMessage, _res: ServerResponse, next: () => void): void => {
      seen.push(`second ${req.url ?? ''}`);
      next();
    };
    const server = await start({ routes: [first, second] });

    const board = await fetch(`${server.url}/board`);
    expect(await board.text()).toBe('board');
    await expectError(await fetch(`${server.url}/nope?x=1`), 404, 'NOT_FOUND');
    expect(seen).toEqual(['first /board', 'first /nope?x=1', 'second /nope?x=1']);
  });

  it('When a route fails, then 500 INTERNAL without the detail, and the error is logged', async () => {
    const logs = collectLogs();
    const server = await start({
      logger: createLogger({ service: 'test', level: 'info', destination: logs.stream }),
      routes: [
        (_req, _res, next) => next(new Error('detail /srv/secret-path')),
        () => {
          throw new Error('never reached');
        },
      ],
    });
    const response = await fetch(`${server.url}/x`);
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Internal error' } });
    expect(JSON.stringify(logs.lines())).toContain('detail /srv/secret-path');
  });

  it('When the caller sends a sane x-request-id, then every answer echoes it; otherwise each gets a new one', async () => {
    const server = await start({
      routes: [(req, res, next) => (req.url === '/route' ? res.writeHead(200).end('route') : next())],
    });
    for (const path of ['/healthz', '/readyz', '/metrics', '/route']) {
      const given = await fetch(`${server.url}${path}`, { headers: { 'x-request-id': 'lb-1234.abc' } });
      expect({ path, id: given.headers.get('x-request-id') }).toEqual({ path, id: 'lb-1234.abc' });
      await given.arrayBuffer();
    }
    const none = await fetch(`${server.url}/nope`);
    expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await expectError(none, 404, 'NOT_FOUND');
    const odd = await fetch(`${server.url}/metrics`, {
      method: 'POST',
      headers: { 'x-request-id': 'a b <script>' },
    });
    expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await expectError(odd, 405, 'METHOD_NOT_ALLOWED');
  });

  it('When listening on 0.0.0.0, then the url names 127.0.0.1 and the chosen port', async () => {
    const server = await start({ host: '0.0.0.0' });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('When closed with a request that never finishes, then close resolves after the grace period and the port is free', async () => {
    let reached!: () => void;
    const inFlight = new Promise<void>((resolve) => (reached = resolve));
    const server = await startOpsServer({
      host: '127.0.0.1',
      port: 0,
      logger: createLogger({ service: 'test', level: 'silent' }),
      metrics: () => Promise.resolve(''),
      routes: [() => reached()],
      closeGraceMs: 300,
    });
    const hanging = fetch(`${server.url}/hang`).catch((error: unknown) => error);
    await inFlight;

    const started = Date.now();
    await Promise.all([server.close(), server.close()]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(String(await hanging)).toMatch(/fetch failed/);
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
