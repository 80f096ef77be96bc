import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Result } from 'autocannon';
import express from 'express';

/**
 * The baseline every benchmark is measured against in the same run (README "Benchmarks"): a bare
 * Express 5 app with express.json() answering one route with a fixed status and body, so a ratio
 * shows what our work costs on top of the framework and the machine.
 */
export async function startBareExpress(route: {
  method: 'post' | 'put';
  path: string;
  status: number;
  body: unknown;
}): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(express.json());
  app[route.method](route.path, (_req, res) => {
    res.status(route.status).json(route.body);
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** One line per measured side: req/s, latency and anything that was not a 2xx. */
export function summarizeLoad(name: string, result: Result): string {
  const bad = result.non2xx + result.errors + result.timeouts;
  return (
    `${name.padEnd(10)} ${result.requests.average.toFixed(0).padStart(7)} req/s  ` +
    `p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  ` +
    `total ${result.requests.total}  non-2xx/errors/timeouts ${bad}`
  );
}
