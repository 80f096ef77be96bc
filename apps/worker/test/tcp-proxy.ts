import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy between one client and Redis that can interrupt the client at a chosen command: it
 * forwards everything until the n-th client chunk that `match`es, then either cuts every
 * connection there (that chunk never reaches Redis, and no new connection is accepted, so ioredis
 * cannot resend it after reconnecting) or holds that chunk and everything after it until `release()`.
 */
export interface Interception {
  /** Recognises a command by the bytes the client sends (key names are in the RESP frame). */
  match: (chunk: Buffer) => boolean;
  /** Act on the match after this many earlier matches went through (1: on the second one). */
  after: number;
  mode: 'cut' | 'hold';
}

export interface TcpProxy {
  /** `redisUrl` with its host and port replaced by the proxy's. */
  readonly url: string;
  /** Resolves once the interception has acted (the chunk was cut off or is being held). */
  intercept(interception: Interception): Promise<void>;
  /** Sends on what is being held. */
  release(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(redisUrl: string): Promise<TcpProxy> {
  const target = new URL(redisUrl);
  const sockets = new Set<Socket>();
  let cut = false;
  let interception: (Interception & { seen: number; acted: () => void }) | undefined;
  const held: Array<() => void> = [];
  let holding = false;

  const server: Server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (holding) {
        held.push(() => upstream.write(chunk));
        return;
      }
      if (interception && interception.match(chunk)) {
        if (interception.seen < interception.after) {
          interception.seen += 1;
        } else {
          const { mode, acted } = interception;
          interception = undefined;
          if (mode === 'cut') {
            cut = true;
            // Refused from now on: a connection accepted and then dropped would let ioredis retry forever.
            server.close();
            for (const socket of sockets) socket.destroy();
            sockets.clear();
          } else {
            holding = true;
            held.push(() => upstream.write(chunk));
          }
          acted();
          return;
        }
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const url = new URL(redisUrl);
  url.hostname = '127.0.0.1';
  url.port = String(address.port);

  return {
    url: url.toString(),
    intercept(next) {
      return new Promise<void>((resolve) => {
        interception = { ...next, seen: 0, acted: resolve };
      });
    },
    release() {
      holding = false;
      for (const send of held.splice(0)) send();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
