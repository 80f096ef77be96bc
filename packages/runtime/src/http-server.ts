import type { Server } from 'node:http';

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
