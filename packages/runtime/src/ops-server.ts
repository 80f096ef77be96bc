import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import {
  answerMalformedRequests,
  classifyMalformedRequest,
  MALFORMED_REQUEST_STATUS,
  type MalformedRequestCode,
  findNodeRefusal,
  listenOn,
  requestIdFor,
  stopHttpServer,
} from './http-server.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';

/**
 * A process's operations listener: `GET /healthz` (the process is up), `GET /readyz` (its
 * dependencies answer), `GET /metrics` (Prometheus text), and whatever extra handlers the process
 * mounts (the receiver's Bull Board). Knows no domain: the process says what "ready" means and
 * what the metrics are. Every answer of its own is bounded by a deadline, so a probe or a scrape
 * never hangs on a Redis that does not answer.
 */

/** A connect-style handler: an Express app or router fits (`app(req, res, next)`). */
export type OpsRequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => unknown;

export type OpsErrorCode =
  | MalformedRequestCode
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'EXPECTATION_FAILED'
  | 'NOT_READY'
  | 'METRICS_UNAVAILABLE'
  | 'INTERNAL';

export interface StartOpsServerOptions {
  /** Interface to listen on; `0.0.0.0` for every one. */
  host: string;
  /** 0 asks the OS for a free port (tests). */
  port: number;
  logger: Logger;
  /** Resolves true when the process can do its work; false or a rejection → 503 NOT_READY. Absent: ready while up. */
  isReady?: () => Promise<boolean>;
  /** The `/metrics` text. */
  metrics: () => Promise<string>;
  /** Handlers for every other request, tried in order; past the last one → 404 NOT_FOUND. */
  routes?: readonly OpsRequestHandler[];
  /** Bound on `isReady`; default 1 s. */
  readyTimeoutMs?: number;
  /** Bound on `metrics`; default 5 s (Prometheus' default scrape timeout is 10 s). */
  metricsTimeoutMs?: number;
  /** How long `close()` lets requests in flight finish before cutting their connections; default 2 s. */
  closeGraceMs?: number;
}

export interface OpsServer {
  /** http://host:port, with 127.0.0.1 when listening on every interface. */
  readonly url: string;
  readonly port: number;
  /** Stops listening, lets requests in flight finish within the grace period. Memoised. */
  close(): Promise<void>;
}

export const DEFAULT_READY_TIMEOUT_MS = 1_000;
export const DEFAULT_METRICS_TIMEOUT_MS = 5_000;
const DEFAULT_CLOSE_GRACE_MS = 2_000;

const STATUS_OF: Record<OpsErrorCode, number> = {
  ...MALFORMED_REQUEST_STATUS,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  EXPECTATION_FAILED: 417,
  NOT_READY: 503,
  METRICS_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export async function startOpsServer(options: StartOpsServerOptions): Promise<OpsServer> {
  const { logger } = options;
  const readyTimeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const metricsTimeoutMs = options.metricsTimeoutMs ?? DEFAULT_METRICS_TIMEOUT_MS;
  const routes = options.routes ?? [];

  const serveOwn = async (path: string, res: ServerResponse): Promise<void> => {
    if (path === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const ready = options.isReady
        ? await settleWithin(options.isReady(), readyTimeoutMs).catch((error: unknown) => {
            logger.debug({ err: error }, 'readiness probe failed');
            return false;
          })
        : true;
      if (ready === true) sendJson(res, 200, { status: 'ready' });
      else
        sendError(
          res,
          'NOT_READY',
          ready === 'timeout' ? `No answer within ${readyTimeoutMs} ms` : 'Not ready',
        );
    } else {
      const text = await settleWithin(options.metrics(), metricsTimeoutMs).catch((error: unknown) => {
        logger.warn({ err: error }, 'metrics failed');
        return 'failed' as const;
      });
      if (text === 'timeout' || text === 'failed') {
        sendError(
          res,
          'METRICS_UNAVAILABLE',
          text === 'timeout' ? `No metrics within ${metricsTimeoutMs} ms` : 'Metrics failed',
        );
      } else {
        res
          .writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' })
          .end(text);
      }
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('x-request-id', requestIdFor(req.headers['x-request-id']));
    const refusal = findNodeRefusal(req);
    if (refusal) {
      sendError(res, refusal.code, refusal.message);
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const fail = (error: unknown): void => {
      logger.error({ err: error, method: req.method, path }, 'ops request failed');
      if (!res.headersSent) sendError(res, 'INTERNAL', 'Internal error');
      else res.destroy();
    };
    if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendError(res, 'METHOD_NOT_ALLOWED', 'Use GET', { allow: 'GET, HEAD' });
        return;
      }
      serveOwn(path, res).catch(fail);
      return;
    }
    const tryRoute = (index: number): void => {
      const route = routes[index];
      if (!route) {
        sendError(res, 'NOT_FOUND', `No route for ${req.method ?? 'GET'} ${path.slice(0, 200)}`);
        return;
      }
      try {
        const result = route(req, res, (error?: unknown) => {
          if (error !== undefined && error !== null && error !== 'route' && error !== 'router') fail(error);
          else tryRoute(index + 1);
        });
        if (result instanceof Promise) result.catch(fail);
      } catch (error) {
        fail(error);
      }
    };
    tryRoute(0);
  };

  // Node answers a missing Host, an unmet Expect and a request it cannot parse itself, bare and
  // empty; here they get the error shape and a request id instead, as on the receiver's webhook
  // listener (apps/receiver/src/server.ts).
  const server = createServer({ requireHostHeader: false }, handle);
  server.on('checkExpectation', handle);
  // With the statuses Node would give: 431 for headers over 16 KiB, 408 for a slow client, else 400.
  server.on(
    'clientError',
    answerMalformedRequests((error) => {
      const code = classifyMalformedRequest(error);
      return {
        status: STATUS_OF[code],
        code,
        body: JSON.stringify({ error: { code, message: 'The HTTP request is malformed' } }),
        headers: { 'Cache-Control': 'no-store' },
      };
    }),
  );
  await listenOn(server, options.port, options.host);
  const port = (server.address() as AddressInfo).port;
  const host = ['0.0.0.0', '::', ''].includes(options.host) ? '127.0.0.1' : options.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    close: () => (closing ??= stopHttpServer(server, options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS)),
  };
}

/** Resolves like `work`, or with 'timeout' after `ms`; a late rejection of `work` is absorbed. */
async function settleWithin<T>(work: Promise<T>, ms: number): Promise<T | 'timeout'> {
  work.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...headers,
    })
    .end(text);
}

/** The error shape every closeloop HTTP answer uses: `{"error": {"code", "message"}}`. */
function sendError(
  res: ServerResponse,
  code: OpsErrorCode,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(res, STATUS_OF[code], { error: { code, message } }, headers);
}
