/**
 * Throughput of the sandbox's hot path (PUT …/completed with a valid token: record, checks, rate
 * counters, state update) against a bare Express 5 app answering 200 {} to the same request.
 *
 *   pnpm exec tsx packages/ghl-sandbox/bench/sandbox-bench.ts [seconds=10] [connections=50]
 *
 * Load stays on 127.0.0.1 and bounded in time. autocannon runs in a worker thread so
 * that the load generator does not share the servers' event loop.
 */
import autocannon, { type Result } from 'autocannon';
import { startBareExpress, summarizeLoad } from '@closeloop/test-support';
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

const sandbox = await startSandbox({ burstLimit: 1_000_000_000, dailyLimit: 1_000_000_000_000 });
const baseline = await startBareExpress({ method: 'put', path: PATH, status: 200, body: {} });
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
  console.log(summarizeLoad('sandbox', sandboxResult));
  const baselineResult = await load(baseline.url);
  console.log(summarizeLoad('baseline', baselineResult));
  const ratio = sandboxResult.requests.average / baselineResult.requests.average;
  console.log(`ratio sandbox/baseline ${ratio.toFixed(2)}`);
  const calls = await sandbox.control.calls();
  console.log(`call log holds ${calls.length} calls (bounded)`);
  // The figures as one JSON line, for `pnpm bench` (scripts/bench.ts).
  const figures = (result: Result) => ({
    okPerSecond: Math.round(result['2xx'] / result.duration),
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
  });
  console.log(
    JSON.stringify({
      bench: 'sandbox',
      seconds,
      connections,
      sandbox: figures(sandboxResult),
      baseline: figures(baselineResult),
    }),
  );
} finally {
  await sandbox.close();
  await baseline.close();
}
