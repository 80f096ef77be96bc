/**
 * Throughput of the sandbox's hot path (PUT …/completed with a valid token: record, checks, rate
 * counters, state update) against a bare Express 5 app answering 200 {} to the same request.
 *
 *   pnpm exec tsx packages/ghl-sandbox/bench/sandbox-bench.ts [seconds=10] [connections=50]
 *
 * Load stays on 127.0.0.1 and bounded in time (SETUP-NOTES). autocannon runs in a worker thread so
 * that the load generator does not share the servers' event loop.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon, { type Result } from 'autocannon';
import express from 'express';
import { startSandbox } from '../src/index.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 50);

const TOKEN = 'pit-bench-token';
const LOCATION = 'benchLocation0000001';
const CONTACT = 'benchContact00000001';
const TASK = 'benchTask00000000001';
const PATH = `/contacts/${CONTACT}/tasks/${TASK}/completed`;

function load(url: string, duration = seconds): Promise<Result> {
  return autocannon({
    url: `${url}${PATH}`,
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, version: '2021-07-28', 'content-type': 'application/json' },
    body: JSON.stringify({ completed: true }),
    connections,
    duration,
    workers: 1,
  });
}

async function startBaseline(): Promise<{ url: string; server: Server }> {
  const app = express();
  app.use(express.json());
  app.put('/contacts/:contactId/tasks/:taskId/completed', (_req, res) => {
    res.status(200).json({});
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function summary(name: string, result: Result): string {
  const bad = result.non2xx + result.errors + result.timeouts;
  return (
    `${name.padEnd(10)} ${result.requests.average.toFixed(0).padStart(7)} req/s  ` +
    `p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  ` +
    `total ${result.requests.total}  non-2xx/errors/timeouts ${bad}`
  );
}

const sandbox = await startSandbox({ burstLimit: 1_000_000_000, dailyLimit: 1_000_000_000_000 });
const baseline = await startBaseline();
try {
  await sandbox.control.seed({
    locations: [{ id: LOCATION, tokens: [TOKEN] }],
    contacts: [{ id: CONTACT, locationId: LOCATION }],
    tasks: [{ id: TASK, contactId: CONTACT, title: 'bench' }],
  });
  console.log(`${seconds} s each, ${connections} connections, PUT ${PATH}`);
  // A short unmeasured run each, so both are measured with warm JIT and open sockets.
  await load(sandbox.url, 2);
  await load(baseline.url, 2);
  const sandboxResult = await load(sandbox.url);
  console.log(summary('sandbox', sandboxResult));
  const baselineResult = await load(baseline.url);
  console.log(summary('baseline', baselineResult));
  const ratio = sandboxResult.requests.average / baselineResult.requests.average;
  console.log(`ratio sandbox/baseline ${ratio.toFixed(2)}`);
  const calls = await sandbox.control.calls();
  console.log(`call log holds ${calls.length} calls (bounded)`);
} finally {
  await sandbox.close();
  await new Promise<void>((resolve) => {
    baseline.server.close(() => resolve());
    baseline.server.closeAllConnections();
  });
}
