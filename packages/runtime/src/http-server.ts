import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** Resolves once `server` listens on `port`/`host`; rejects with the listen error (EADDRINUSE, …). */
export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Stops accepting and lets requests in flight finish for up to `graceMs`. server.close() closes idle
 * keep-alive sockets only once (Node >= 19); sockets that go idle after their response are closed by
 * the polling, and after the grace period every one is.
 */
export function stopHttpServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(force);
      resolve();
    });
  });
}

/** A caller's `x-request-id` is echoed only when it is a plain token: it goes into logs and a header. */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id of a request: the caller's `x-request-id` when sane, else a new UUID. */
export function requestIdFor(given: string | string[] | undefined): string {
  return typeof given === 'string' && ACCEPTABLE_REQUEST_ID.test(given) ? given : randomUUID();
}

/** Node's own test for an expectation it can meet (lib/_http_server.js, `continueExpression`). */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;

export interface NodeRefusal {
  code: 'BAD_REQUEST' | 'EXPECTATION_FAILED';
  message: string;
}

/**
 * The two HTTP/1.1 rules Node would enforce itself with a bare, empty answer, for a server created
 * with `requireHostHeader: false` whose `checkExpectation` goes to its handler, so that the answer
 * gets the listener's error shape and a request id: a request without `Host` (RFC 9112 §3.2: 400)
 * and an `Expect` other than `100-continue` (RFC 9110 §10.1.1: 417).
 */
export function findNodeRefusal(req: IncomingMessage): NodeRefusal | undefined {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return undefined;
  if (req.headers.host === undefined) {
    return { code: 'BAD_REQUEST', message: 'An HTTP/1.1 request must carry a Host header' };
  }
  const { expect } = req.headers;
  if (expect !== undefined && !CONTINUE_EXPECTATION.test(expect)) {
    return { code: 'EXPECTATION_FAILED', message: 'The only expectation supported is Expect: 100-continue' };
  }
  return undefined;
}

/** What a request Node's parser refused is answered with (RFC 9110 §15.5.1, §15.5.9; RFC 6585 §5). */
export type MalformedRequestCode = 'BAD_REQUEST' | 'HEADERS_TOO_LARGE' | 'REQUEST_TIMEOUT';

export const MALFORMED_REQUEST_STATUS: Record<MalformedRequestCode, number> = {
  BAD_REQUEST: 400,
  REQUEST_TIMEOUT: 408,
  HEADERS_TOO_LARGE: 431,
};

/**
 * The statuses Node itself gives a 'clientError' (lib/_http_server.js `onParserExecuteCommon`,
 * `socketOnError`): headers over `maxHeaderSize` 431, a client slower than `headersTimeout` or
 * `requestTimeout` 408, anything else it cannot parse 400.
 */
export function classifyMalformedRequest(error: NodeJS.ErrnoException): MalformedRequestCode {
  if (error.code === 'HPE_HEADER_OVERFLOW') return 'HEADERS_TOO_LARGE';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return 'REQUEST_TIMEOUT';
  return 'BAD_REQUEST';
}

export interface MalformedRequestAnswer {
  status: number;
  code: string;
  /** The JSON error body. */
  body: string;
  headers?: Record<string, string>;
}

/**
 * A server's 'clientError' listener. Requests Node's HTTP parser refuses never reach the handler
 * (bad request line, conflicting Content-Length, headers over 16 KiB, a too slow client); Node would
 * answer them bare and empty. `answer` says how this listener answers them, in its error shape; the
 * id is new, as a request Node could not parse has no usable x-request-id.
 */
export function answerMalformedRequests(
  answer: (error: NodeJS.ErrnoException) => MalformedRequestAnswer,
): (error: NodeJS.ErrnoException, socket: Duplex) => void {
  return (error, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, code, body, headers = {} } = answer(error);
    const extra = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    socket.end(
      `HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}x-request-id: ${randomUUID()}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  };
}
