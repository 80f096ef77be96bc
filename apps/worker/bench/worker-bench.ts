/**
 * `pnpm bench worker`: how many jobs a second one worker process completes when GHL takes
 * `--latency-ms` (default 50) to answer, at each `--concurrency` (default 50 and 200), beside
 *
 * - the baseline: a minimal BullMQ worker doing the same PUT with got at the same concurrency, in a
 *   process of its own (baseline-worker.ts), against the same queue, jobs and sandbox;
 * - the ideal: concurrency ÷ latency, every slot always busy with a call.
 *
 *   pnpm bench worker [--concurrency 50,200] [--latency-ms 50] [--seconds 5] [--warmup-s 1]
 *                     [--runs 3] [--locations 10]
 *
 * Each step (one side, one concurrency, one run) starts its worker process on a waiting backlog,
 * lets it warm up for `--warmup-s`, then counts the PUTs that reach the sandbox during `--seconds`
 * (each PUT is one job: every job names its task). The sides alternate within a run, so a drift of
 * the machine touches both; the table shows each figure's median over `--runs` and its range.
 *
 * The budget never binds: the sandbox and the worker's budget allow 1,000,000 requests per 10 s per
 * location and LOCATION_CONCURRENCY is the concurrency. The sandbox holds every answer `latencyMs`
 * (a fault with `ratio: 1`). Load stays on 127.0.0.1; every step is bounded by `--warmup-s` +
 * `--seconds` plus a worker's start and stop.
 */
import { parseArgs } from 'node:util';
import { enqueueTaskUpdate } from '@closeloop/queue';
import type { RecordedCall } from '@closeloop/ghl-sandbox';
import {
  medianOf,
  openBenchWorld,
  processCpuMs,
  round,
  startBaselineWorker,
  poolIds,
  seedTaskPool,
} from './bench-support.js';

const { values: flags } = parseArgs({
  options: {
    concurrency: { type: 'string' },
    'latency-ms': { type: 'string' },
    seconds: { type: 'string' },
    'warmup-s': { type: 'string' },
    runs: { type: 'string' },
    locations: { type: 'string' },
  },
  allowPositionals: true,
});

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, got ${raw}`);
  return value;
}

const CONCURRENCIES = (flags.concurrency ?? '50,200').split(',').map((c) => positive('concurrency', c, 50));
const LATENCY_MS = positive('latency-ms', flags['latency-ms'], 50);
const SECONDS = positive('seconds', flags.seconds, 5);
const WARMUP_S = positive('warmup-s', flags['warmup-s'], 1);
const RUNS = positive('runs', flags.runs, 3);
const LOCATIONS = positive('locations', flags.locations, 10);

const ids = poolIds('wb');
const { locationId, contactId, tokenOf, taskId } = ids;
const tokens = Object.fromEntries(Array.from({ length: LOCATIONS }, (_, i) => [locationId(i), tokenOf(i)]));

// The most any step can take, with room: the ideal rate over warm-up and window, plus what is in flight.
const ideal = (concurrency: number): number => concurrency / (LATENCY_MS / 1000);
const backlogFor = (concurrency: number): number =>
  Math.ceil(ideal(concurrency) * (WARMUP_S + SECONDS + 1) * 1.2) + concurrency;
// A multiple of LOCATIONS, so task k mod POOL belongs to location k mod LOCATIONS, as job k does.
const POOL = Math.ceil(Math.max(...CONCURRENCIES.map(backlogFor)) / LOCATIONS) * LOCATIONS;

const world = await openBenchWorld({
  name: 'worker',
  burstLimit: 1_000_000,
  burstIntervalMs: 10_000,
  rateWindow: 'sliding',
  dailyLimit: 1_000_000_000_000,
});
const { state, producer } = world;

// PUTs by arrival, drained from the sandbox's 10,000-entry call log before it wraps.
let arrivals: RecordedCall[] = [];
const drainCalls = (): void => {
  for (const call of state.calls.list({ method: 'PUT' })) arrivals.push(call);
  state.calls.clear();
};
const drainTimer = setInterval(drainCalls, 100);

// Jobs k = 0, 1, …, each for task k mod POOL: a waiting backlog never holds one task twice (the
// ordering guard would make the second wait), and the sandbox holds POOL tasks, not millions.
let enqueued = 0;
async function topUp(waiting: number): Promise<void> {
  const missing = waiting - (await producer.queue.getWaitingCount());
  const until = enqueued + Math.max(0, missing);
  while (enqueued < until) {
    const batch = Array.from({ length: Math.min(500, until - enqueued) }, (_, b) => enqueued + b);
    enqueued += batch.length;
    await Promise.all(
      batch.map((k) => {
        const location = k % LOCATIONS;
        return enqueueTaskUpdate(producer, {
          source: 'bench',
          idempotencyKey: `wb-${k}`,
          event: {
            type: 'ticket.closed',
            occurredAt: new Date().toISOString(),
            ticket: { id: `WB-${k}` },
            ghl: {
              locationId: locationId(location),
              contactId: contactId(location),
              taskId: taskId(k % POOL),
            },
          },
        });
      }),
    );
  }
}

/** One step: a worker on a backlog; the PUTs per second in the window after the warm-up. */
async function step(
  side: 'closeloop' | 'baseline',
  concurrency: number,
): Promise<{ rate: number; bad: number; cpuMsPerJob: number | undefined }> {
  await topUp(backlogFor(concurrency));
  let stop: () => Promise<void>;
  let pid: number | undefined;
  if (side === 'closeloop') {
    await world.startWorkers(1, {
      GHL_LOCATION_TOKENS: Object.entries(tokens)
        .map(([location, token]) => `${location}=${token}`)
        .join(' '),
      WORKER_CONCURRENCY: String(concurrency),
      LOCATION_CONCURRENCY: String(concurrency),
    });
    stop = () => world.stopWorkers();
    pid = world.workers()[0]?.child.pid;
  } else {
    const baseline = await startBaselineWorker(world, { concurrency, tokens });
    stop = () => baseline.stop();
    pid = baseline.pid;
  }
  drainCalls();
  arrivals = [];
  const from = Date.now() + WARMUP_S * 1000;
  const to = from + SECONDS * 1000;
  await new Promise((resolve) => setTimeout(resolve, from - Date.now()));
  const cpuBefore = processCpuMs(pid);
  await new Promise((resolve) => setTimeout(resolve, to - Date.now()));
  const cpuAfter = processCpuMs(pid);
  // Past the window by one answer, so every call of the window has its status.
  await new Promise((resolve) => setTimeout(resolve, LATENCY_MS + 200));
  drainCalls();
  await stop();
  const inWindow = arrivals.filter((call) => {
    const at = Date.parse(call.at);
    return at >= from && at < to;
  });
  arrivals = [];
  return {
    rate: inWindow.length / SECONDS,
    bad: inWindow.filter((call) => call.status !== 200).length,
    cpuMsPerJob:
      cpuBefore === undefined || cpuAfter === undefined || inWindow.length === 0
        ? undefined
        : round((cpuAfter - cpuBefore) / inWindow.length, 3),
  };
}

try {
  await world.control.injectFault({ latencyMs: Math.round(LATENCY_MS), ratio: 1 });
  seedTaskPool(state, ids, LOCATIONS, POOL);
  console.log(
    `one worker process, GHL answering after ${LATENCY_MS} ms, ${LOCATIONS} locations, ` +
      `${WARMUP_S} s warm-up + ${SECONDS} s window per step, ${RUNS} runs; ` +
      `Redis ${world.ownRedis ? 'own redis-server' : 'REDIS_URL'}`,
  );
  const steps = [];
  for (const concurrency of CONCURRENCIES) {
    const ours: number[] = [];
    const theirs: number[] = [];
    const ourCpu: number[] = [];
    const theirCpu: number[] = [];
    let bad = 0;
    for (let run = 0; run < RUNS; run += 1) {
      const a = await step('closeloop', concurrency);
      const b = await step('baseline', concurrency);
      ours.push(round(a.rate));
      theirs.push(round(b.rate));
      bad += a.bad + b.bad;
      if (a.cpuMsPerJob !== undefined) ourCpu.push(a.cpuMsPerJob);
      if (b.cpuMsPerJob !== undefined) theirCpu.push(b.cpuMsPerJob);
      console.log(
        `  concurrency ${concurrency} run ${run + 1}: closeloop ${round(a.rate)} jobs/s (${a.cpuMsPerJob ?? '?'} ms CPU/job), ` +
          `baseline ${round(b.rate)} jobs/s (${b.cpuMsPerJob ?? '?'} ms CPU/job)`,
      );
    }
    const closeloop = medianOf(ours);
    const baseline = medianOf(theirs);
    steps.push({
      concurrency,
      idealPerSecond: ideal(concurrency),
      closeloop,
      baseline,
      ratioToBaseline: round(closeloop.median / baseline.median, 3),
      ratioToIdeal: round(closeloop.median / ideal(concurrency), 3),
      baselineRatioToIdeal: round(baseline.median / ideal(concurrency), 3),
      ...(ourCpu.length > 0 && { closeloopCpuMsPerJob: medianOf(ourCpu) }),
      ...(theirCpu.length > 0 && { baselineCpuMsPerJob: medianOf(theirCpu) }),
      nonOkAnswers: bad,
    });
  }

  const range = (f: { median: number; min: number; max: number }): string =>
    `${f.median} (${f.min}–${f.max})`;
  const rows: string[][] = [
    ['concurrency', 'closeloop jobs/s', 'minimal BullMQ + got', 'ideal', 'vs minimal', 'vs ideal'],
    ...steps.map((s) => [
      String(s.concurrency),
      range(s.closeloop),
      range(s.baseline),
      String(s.idealPerSecond),
      String(s.ratioToBaseline),
      String(s.ratioToIdeal),
    ]),
  ];
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => row[c]?.length ?? 0))) ?? [];
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  '));
  const problems = world.problems();
  if (problems.length > 0) console.log(`worker warnings (first ${problems.length}):\n${problems.join('\n')}`);
  console.log(
    JSON.stringify({
      bench: 'worker',
      latencyMs: LATENCY_MS,
      seconds: SECONDS,
      warmupS: WARMUP_S,
      runs: RUNS,
      locations: LOCATIONS,
      steps,
      workerWarnings: problems.length,
    }),
  );
} finally {
  clearInterval(drainTimer);
  await world.close();
}
