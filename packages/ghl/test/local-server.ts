import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { GhlError } from '../src/errors.js';

/** One request as it arrived on the wire: the raw request-target and the exact body bytes. */
export interface WireRequest {
  method: string;
  rawUrl: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
}

export interface LocalServer {
  url: string;
  requests: WireRequest[];
  /** Sockets the server has seen close (keep-alive sockets close only when the client lets go). */
  closedSockets: () => number;
  openSockets: () => number;
  close(): Promise<void>;
}

/** A bare node:http server for wire-level assertions the sandbox does not record (raw URL, bytes). */
export async function startLocalServer(
  answer: (request: WireRequest, res: ServerResponse) => void,
): Promise<LocalServer> {
  const requests: WireRequest[] = [];
  const sockets = new Set<Socket>();
  let closed = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: WireRequest = {
        method: req.method ?? '',
        rawUrl: req.url ?? '',
        headers: req.headers,
        rawBody: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      answer(request, res);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed += 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    closedSockets: () => closed,
    openSockets: () => sockets.size,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Awaits a call that must fail with GhlError and returns the error for assertions. */
export async function catchGhlError(promise: Promise<unknown>): Promise<GhlError> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    if (error instanceof GhlError) return error;
    throw error;
  }
  throw new Error(`Expected a GhlError, but the call resolved with ${JSON.stringify(outcome)}`);
}
