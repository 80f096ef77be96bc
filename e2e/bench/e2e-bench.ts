/**
 * `pnpm bench e2e`: from a helpdesk's webhook to GHL's answer, unloaded (one event at a time), with
 * the shipped processes: a receiver (`node --import tsx apps/receiver/src/main.ts`) and a worker
 * (`apps/worker/src/main.ts`), Redis, and the GHL sandbox answering at once (in this process).
 *
 *   pnpm bench e2e [--events 100] [--runs 3] [--warmup 5]
 *
 * Per event, from the start of the signed POST /webhooks/events (Date.now()):
 * - `answered`: the receiver's 202;
 * - `ghl`: the PUT reaching the sandbox (its call log's `at`, stamped on arrival; the sandbox answers
 *   within the same millisecond);
 * - `completed`: the job's `finishedOn` in Redis.
 * Each is reported as p50 and p99 over `--events` events, the median of `--runs` blocks (range shown).
 *
 * The baseline, in the same run: the least such a pipeline can do with the same parts, a bare
 * node:http handler in this process that adds the body as a BullMQ job and answers 202, and the
 * minimal BullMQ worker doing the same PUT with got (apps/worker/bench/baseline-worker.ts). The sides
 * alternate by block; both use the same Redis, queue name and sandbox, never at the same time.
 * Load stays on 127.0.0.1; bounded by the event counts (each event waits at most 10 s).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { TASK_UPDATE_JOB_NAME, TASK_UPDATE_JOB_OPTIONS } from '@closeloop/queue';
import { findFreePort, waitFor } from '@closeloop/test-support';
import { Webhook } from 'standardwebhooks';
import {
  medianOf,
  openBenchWorld,
  quantile,
  startBaselineWorker,
} from '../../apps/worker/bench/bench-support.js';

const { values: flags } = parseArgs({
  options: { events: { type: 'string' }, runs: { type: 'string' }, warmup: { type: 'string' } },
  allowPositionals: true,
});
function setting(name: keyof typeof flags, fallback: number, min = 1): number {
  const raw = flags[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new Error(`--${name} must be an integer ≥ ${min}, got ${raw}`);
  return value;
}
const EVENTS = setting('events', 100);
const RUNS = setting('runs', 3);
const WARMUP = setting('warmup', 5, 0);

const LOCATION = 'e2eBenchLocation0001';
const CONTACT = 'e2eBenchContact00001';
const TOKEN = `pit-e2e-bench-${randomBytes(8).toString('hex')}`;
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const webhook = new Webhook(SECRET);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const world = await openBenchWorld({
  name: 'e2e',
  burstLimit: 1_000_000,
  burstIntervalMs: 10_000,
  rateWindow: 'sliding',
  dailyLimit: 1_000_000_000_000,
});
const { state, producer } = world;

// The baseline's receiver: parse, add, 202. No signature, no schema, no dedupe.
const bare = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const event = JSON.parse(Buffer.concat(chunks).toString()) as unknown;
    producer.queue
      .add(TASK_UPDATE_JOB_NAME, { event } as never, {
        removeOnComplete: TASK_UPDATE_JOB_OPTIONS.removeOnComplete,
      })
      .then((job) => {
        res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ jobId: job.id }));
      })
      .catch(() => res.writeHead(503).end());
  });
});
bare.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;

// The receiver process, as `pnpm start:receiver` runs it.
const port = await findFreePort();
const receiverUrl = `http://127.0.0.1:${port}`;
const receiver = spawn(process.execPath, ['--import', 'tsx', 'apps/receiver/src/main.ts'], {
  cwd: new URL('../..', import.meta.url),
  env: {
    PATH: process.env.PATH ?? '',
    REDIS_URL: world.redisUrl,
    QUEUE_PREFIX: world.prefix,
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: '0',
    WEBHOOK_SECRET: SECRET,
    LOG_LEVEL: 'info',
  },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let receiverErrors = '';
receiver.stderr.on(
  'data',
  (chunk: Buffer) => (receiverErrors = (receiverErrors + chunk.toString()).slice(-2_000)),
);
const receiverExited = new Promise((resolve) => receiver.once('exit', resolve));

let taskSeq = 0;
async function sendOne(
  url: string,
  signed: boolean,
): Promise<{ answered: number; ghl: number; completed: number }> {
  taskSeq += 1;
  const taskId = `e2eBenchTask${String(taskSeq).padStart(8, '0')}`;
  state.seed({ tasks: [{ id: taskId, contactId: CONTACT, title: 'bench' }] });
  const body = JSON.stringify({
    type: 'ticket.closed',
    occurredAt: new Date().toISOString(),
    ticket: { id: `E2E-${taskSeq}` },
    ghl: { locationId: LOCATION, contactId: CONTACT, taskId },
  });
  const id = `msg_e2e_bench_${taskSeq}_${randomBytes(4).toString('hex')}`;
  const start = Date.now();
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (signed) {
    const now = new Date(start);
    headers['webhook-id'] = id;
    headers['webhook-timestamp'] = String(Math.floor(start / 1000));
    headers['webhook-signature'] = webhook.sign(id, now, body);
  }
  const response = await fetch(`${url}/webhooks/events`, { method: 'POST', headers, body });
  const answered = Date.now() - start;
  const { jobId } = (await response.json()) as { jobId: string };
  if (response.status !== 202) throw new Error(`POST answered ${response.status}`);
  // The sandbox is in this process: its call log is read without a round trip, every millisecond.
  const ghlAt = await waitFor(
    () => {
      const call = state.calls.list({ path: taskId, method: 'PUT' })[0];
      return call?.status === 200 ? Date.parse(call.at) : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 1, description: `the PUT of ${taskId}` },
  );
  const finishedOn = await waitFor(async () => (await producer.queue.getJob(jobId))?.finishedOn, {
    timeoutMs: 10_000,
    intervalMs: 5,
    description: `job ${jobId} to complete`,
  });
  state.calls.clear();
  return { answered, ghl: ghlAt - start, completed: finishedOn - start };
}

interface Block {
  answered: number[];
  ghl: number[];
  completed: number[];
}
async function block(url: string, signed: boolean): Promise<Block> {
  for (let w = 0; w < WARMUP; w += 1) await sendOne(url, signed);
  state.calls.clear();
  const result: Block = { answered: [], ghl: [], completed: [] };
  for (let e = 0; e < EVENTS; e += 1) {
    const one = await sendOne(url, signed);
    result.answered.push(one.answered);
    result.ghl.push(one.ghl);
    result.completed.push(one.completed);
    // Unloaded: the pipeline is idle again before the next event.
    await sleep(10);
  }
  return result;
}

const p = (values: number[], q: number): number =>
  quantile(
    [...values].sort((a, b) => a - b),
    q,
  );

try {
  state.seed({
    locations: [{ id: LOCATION, tokens: [TOKEN] }],
    contacts: [{ id: CONTACT, locationId: LOCATION }],
  });
  await waitFor(async () => (await fetch(`${receiverUrl}/readyz`).catch(() => undefined))?.ok === true, {
    timeoutMs: 30_000,
    description: `the receiver process to be ready (${receiverErrors})`,
  });
  console.log(
    `${RUNS} runs × ${EVENTS} events one at a time (+${WARMUP} warm-up each), GHL sandbox answering at once; ` +
      `Redis ${world.ownRedis ? 'own redis-server' : 'REDIS_URL'}`,
  );
  const ours: Block[] = [];
  const theirs: Block[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    await world.startWorkers(1, { GHL_LOCATION_TOKENS: `${LOCATION}=${TOKEN}` });
    ours.push(await block(receiverUrl, true));
    await world.stopWorkers();
    const baseline = await startBaselineWorker(world, { concurrency: 50, tokens: { [LOCATION]: TOKEN } });
    theirs.push(await block(bareUrl, false));
    await baseline.stop();
    const last = (blocks: Block[]) => blocks.at(-1) ?? { answered: [], ghl: [], completed: [] };
    console.log(
      `  run ${run + 1}: closeloop POST → GHL p50 ${p(last(ours).ghl, 0.5)} ms p99 ${p(last(ours).ghl, 0.99)} ms; ` +
        `baseline p50 ${p(last(theirs).ghl, 0.5)} ms p99 ${p(last(theirs).ghl, 0.99)} ms`,
    );
  }
  const figure = (blocks: Block[], key: keyof Block, q: number) => medianOf(blocks.map((b) => p(b[key], q)));
  const side = (blocks: Block[]) => ({
    answeredP50Ms: figure(blocks, 'answered', 0.5),
    answeredP99Ms: figure(blocks, 'answered', 0.99),
    ghlP50Ms: figure(blocks, 'ghl', 0.5),
    ghlP99Ms: figure(blocks, 'ghl', 0.99),
    completedP50Ms: figure(blocks, 'completed', 0.5),
    completedP99Ms: figure(blocks, 'completed', 0.99),
  });
  const closeloop = side(ours);
  const baseline = side(theirs);
  const range = (f: { median: number; min: number; max: number }): string =>
    `${f.median} ms (${f.min}–${f.max})`;
  const rows: string[][] = [
    ['POST start →', 'closeloop p50', 'closeloop p99', 'minimal p50', 'minimal p99'],
    ...(['answered', 'ghl', 'completed'] as const).map((key) => [
      { answered: '202 answered', ghl: 'GHL call (sandbox)', completed: 'job completed' }[key],
      range(closeloop[`${key}P50Ms`]),
      range(closeloop[`${key}P99Ms`]),
      range(baseline[`${key}P50Ms`]),
      range(baseline[`${key}P99Ms`]),
    ]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => row[c]?.length ?? 0))) ?? [];
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  '));
  const problems = world.problems();
  if (problems.length > 0) console.log(`worker warnings (first ${problems.length}):\n${problems.join('\n')}`);
  console.log(
    JSON.stringify({
      bench: 'e2e',
      events: EVENTS,
      runs: RUNS,
      closeloop,
      baseline,
      workerWarnings: problems.length,
    }),
  );
} finally {
  if (receiver.exitCode === null) receiver.kill('SIGTERM');
  await receiverExited;
  await new Promise<void>((resolve) => {
    bare.close(() => resolve());
    bare.closeAllConnections();
  });
  await world.close();
}
