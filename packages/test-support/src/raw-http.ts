import { connect } from 'node:net';

export interface RawExchange {
  status: number;
  head: string;
  body: string;
  /** Everything the server sent, interim answers (100 Continue) included. */
  text: string;
}

/**
 * Writes `request` as it is on a fresh connection and reads until the server closes it: for
 * requests that say `Connection: close`, are HTTP/1.0, or are ones Node refuses. Raw, because fetch
 * always sends Host and never an arbitrary Expect. It does not half-close first: on a half-closed
 * connection, the final answer after a 100 Continue never came. `status` and `head` are the final
 * answer's, past any interim 1xx.
 */
export function sendRawHttp(baseUrl: string, request: string): Promise<RawExchange> {
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
      const final = text.replace(/^(HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
      const separator = final.indexOf('\r\n\r\n');
      const head = separator === -1 ? final : final.slice(0, separator);
      const body = separator === -1 ? '' : final.slice(separator + 4);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body, text });
    });
  });
}

/** The value of header `name` (lower case) in a raw response head. */
export function headerOf(head: string, name: string): string | undefined {
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => /^([^:]+):\s*(.*)$/.exec(line))
    .find((match) => match?.[1]?.toLowerCase() === name)?.[2];
}

/**
 * Requests Node's HTTP parser refuses ('clientError'), each with the status and code a closeloop
 * listener answers it with (packages/runtime http-server.ts `classifyMalformedRequest`):
 * `[what is wrong, status, code, the raw request]`. `postPath` is a route that takes a body.
 */
export function malformedHttpRequests(postPath: string): [string, number, string, string][] {
  return [
    ['a garbage request line', 400, 'BAD_REQUEST', 'HELLO THERE\r\n\r\n'],
    ['a header without a colon', 400, 'BAD_REQUEST', 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n'],
    [
      'conflicting Content-Length headers',
      400,
      'BAD_REQUEST',
      `POST ${postPath} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}`,
    ],
    [
      'headers over 16 KiB',
      431,
      'HEADERS_TOO_LARGE',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nx-filler: ${'a'.repeat(20_000)}\r\n\r\n`,
    ],
  ];
}
