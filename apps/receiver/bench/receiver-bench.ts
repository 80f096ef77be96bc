/**
 * Throughput of the receiver's hot path — POST /webhooks/events with a valid Standard Webhooks
 * signature: raw body, HMAC check, JSON + zod, dedupe check, queue.add, dedupe record, 202 — against
 * a bare Express 5 app with express.json() answering 202 to the same requests, in the same run.
 *
 *   pnpm exec tsx apps/receiver/bench/receiver-bench.ts [seconds=10] [connections=50]
 *
 * Redis: REDIS_URL if set (a fresh key prefix, deleted afterwards), else its own redis-server.
 * The receiver logs at BENCH_LOG_LEVEL (default info, as in production) into /dev/null, synchronously
 * as it writes stdout (packages/runtime logger.ts), so the cost of its access log is measured but no
 * terminal is. Load stays on 127.0.0.1, bounded in time; the load generator is a separate process
 * (load-generator.ts).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  startBareExpress,
  startRedisServer,
  summarizeLoad,
  waitFor,
  type LocalRedis,
} from '@closeloop/test-support';
import type { Result } from 'autocannon';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { expectConfig } from '@closeloop/runtime';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startReceiver } from '../src/server.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 50);
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const GENERATOR = fileURLToPath(new URL('./load-generator.ts', import.meta.url));

function load(url: string, secret: string, duration = seconds): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      `${ROOT}node_modules/.bin/tsx`,
      [GENERATOR, JSON.stringify({ url, seconds: duration, connections, secret })],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else resolve(JSON.parse(output.trim().split('\n').pop() ?? '{}') as Result);
    });
  });
}

async function deleteKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

const ownRedis: LocalRedis | undefined = process.env.REDIS_URL ? undefined : await startRedisServer();
const redisUrl = process.env.REDIS_URL ?? ownRedis?.url ?? '';
const prefix = `bench-${randomUUID().slice(0, 8)}`;
const secret = `whsec_${randomBytes(32).toString('base64')}`;
const config = expectConfig(
  loadConfig({
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: prefix,
    PORT: '0',
    HOST: '127.0.0.1',
    // A free port: the default 3001 may be taken by a running `pnpm dev`.
    ADMIN_PORT: '0',
    WEBHOOK_SECRET: secret,
    LOG_LEVEL: logLevel,
  }),
);
const receiver = await startReceiver(config, {
  logger: createLogger(config.logLevel, pino.destination({ dest: '/dev/null', sync: true })),
});
// It listens before Redis answers: load it only once it has.
await waitFor(async () => (await fetch(`${receiver.url}/readyz`)).ok, {
  description: 'the receiver to reach Redis',
});
const baseline = await startBareExpress({
  method: 'post',
  path: '/webhooks/events',
  status: 202,
  body: { jobId: 'baseline', duplicate: false },
});
try {
  console.log(
    `${seconds} s each, ${connections} connections, signed POST /webhooks/events, ` +
      `receiver log level ${config.logLevel}, Redis ${ownRedis ? 'own redis-server' : 'REDIS_URL'}`,
  );
  // A short unmeasured run each, so both are measured with warm JIT and open sockets.
  await load(receiver.url, secret, 2);
  await load(baseline.url, secret, 2);
  // CPU time of this process (the server side) per request: steadier than req/s on a shared machine.
  const cpuPerRequest = async (url: string): Promise<[Result, number]> => {
    const before = process.cpuUsage();
    const result = await load(url, secret);
    const used = process.cpuUsage(before);
    return [result, (used.user + used.system) / Math.max(1, result.requests.total)];
  };
  const [receiverResult, receiverCpuUs] = await cpuPerRequest(receiver.url);
  console.log(`${summarizeLoad('receiver', receiverResult)}  cpu ${receiverCpuUs.toFixed(0)} µs/request`);
  const [baselineResult, baselineCpuUs] = await cpuPerRequest(baseline.url);
  console.log(`${summarizeLoad('baseline', baselineResult)}  cpu ${baselineCpuUs.toFixed(0)} µs/request`);
  const ratio = receiverResult.requests.average / baselineResult.requests.average;
  console.log(`ratio receiver/baseline ${ratio.toFixed(2)}`);
  // The figures as one JSON line, for `pnpm bench` (scripts/bench.ts). Accepted: answered 2xx, so
  // durably enqueued (the receiver answers 202 only once the job and its dedupe record are in Redis).
  const figures = (result: Result, cpuUs: number) => ({
    cpuUsPerRequest: Math.round(cpuUs),
    acceptedPerSecond: Math.round(result['2xx'] / result.duration),
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    bad: result.non2xx + result.errors + result.timeouts,
  });
  console.log(
    JSON.stringify({
      bench: 'receiver',
      seconds,
      connections,
      logLevel: config.logLevel,
      receiver: figures(receiverResult, receiverCpuUs),
      baseline: figures(baselineResult, baselineCpuUs),
    }),
  );
} finally {
  await receiver.close();
  await baseline.close();
  if (ownRedis) await ownRedis.dispose();
  else console.log(`deleted ${await deleteKeys(redisUrl, prefix)} bench keys`);
}
