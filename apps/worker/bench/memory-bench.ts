/**
 * `pnpm bench memory`: does a worker process grow with the jobs it has done, and what does Redis
 * keep per job? One worker process (`node --import tsx apps/worker/src/main.ts`) completes `--jobs`
 * jobs (default 100,000; `--jobs 1000000` for the issue's figure, about ten times as long) against
 * the GHL sandbox answering at once, with a budget that never binds.
 *
 *   pnpm bench memory [--jobs 100000] [--warmup 1000] [--concurrency 50] [--backlog 5000]
 *                     [--pool 10000] [--samples 1000] [--locations 10] [--timeout-s 3600]
 *
 * Figures, all measured in this run (nothing extrapolated):
 * - the worker's RSS (Linux /proc/<pid>/status VmRSS) once started, after `--warmup` jobs, and after
 *   the `--jobs` that follow (each read after a 2 s pause, the worker idle), and its peak (VmHWM).
 *   The baseline is the RSS after the warm-up: growth past it is what the jobs left behind.
 * - Redis bytes per kept completed job: MEMORY USAGE (SAMPLES 0) of `--samples` random completed jobs'
 *   hashes, plus the completed set's bytes per entry, beside the bytes of the job's `data` field.
 *   BullMQ keeps the last 100,000 completed jobs (TASK_UPDATE_JOB_OPTIONS.removeOnComplete).
 * - Redis bytes per dedupe record (kept 72 h, one per accepted event): MEMORY USAGE of `--samples`
 *   random records, beside their key and value length.
 * - Redis bytes per task's order marker (kept 30 days, one per task): MEMORY USAGE of sampled markers.
 * - INFO memory used_memory before the first job and after the last, over the jobs done: every
 *   key class together (the kept jobs, the records, the markers, BullMQ's event stream).
 *
 * The jobs go to `--pool` tasks in turn (job k to task k mod pool), so the sandbox holds a bounded
 * set of tasks; the queue is topped up to keep at most `--backlog` jobs waiting. Bounded by the job
 * count and `--timeout-s`. Load stays on 127.0.0.1.
 */
import { parseArgs } from 'node:util';
import { TASK_UPDATES_QUEUE, dedupeKeyFor, enqueueTaskUpdate, jobIdFor, jobKeyFor } from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import { memoryOf, openBenchWorld, round, positiveInteger, poolIds, seedTaskPool } from './bench-support.js';

const { values: flags } = parseArgs({
  options: {
    jobs: { type: 'string' },
    warmup: { type: 'string' },
    concurrency: { type: 'string' },
    backlog: { type: 'string' },
    pool: { type: 'string' },
    samples: { type: 'string' },
    locations: { type: 'string' },
    'timeout-s': { type: 'string' },
  },
  allowPositionals: true,
});

const setting = (name: keyof typeof flags, fallback: number): number =>
  positiveInteger(name, flags[name], fallback);

const JOBS = setting('jobs', 100_000);
const WARMUP = setting('warmup', 1_000);
const CONCURRENCY = setting('concurrency', 50);
const BACKLOG = setting('backlog', 5_000);
const LOCATIONS = setting('locations', 10);
// A multiple of LOCATIONS, so task k mod POOL belongs to location k mod LOCATIONS, as job k does.
const POOL = Math.ceil(Math.max(setting('pool', 10_000), BACKLOG + CONCURRENCY) / LOCATIONS) * LOCATIONS;
const SAMPLES = setting('samples', 1_000);
const TIMEOUT_MS = setting('timeout-s', 3_600) * 1_000;

const ids = poolIds('mem');
const { locationId, contactId, tokenOf, taskId } = ids;
const idempotencyKey = (k: number): string => `mem-${k}`;
const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const world = await openBenchWorld({
  name: 'memory',
  burstLimit: 1_000_000,
  burstIntervalMs: 10_000,
  rateWindow: 'sliding',
  dailyLimit: 1_000_000_000_000,
});
const { state, producer } = world;
const redis = producer.redis;

// PUTs that reached the sandbox: one per job (every job names its task, the sandbox answers 200).
let puts = 0;
let nonOk = 0;
const drainCalls = (): void => {
  for (const call of state.calls.list({ method: 'PUT' })) {
    puts += 1;
    if (call.status !== 200) nonOk += 1;
  }
  state.calls.clear();
};
const drainTimer = setInterval(drainCalls, 100);

let enqueued = 0;
async function enqueue(count: number): Promise<void> {
  const until = enqueued + count;
  while (enqueued < until) {
    const batch = Array.from({ length: Math.min(500, until - enqueued) }, (_, b) => enqueued + b);
    enqueued += batch.length;
    await Promise.all(
      batch.map((k) => {
        const location = k % LOCATIONS;
        return enqueueTaskUpdate(producer, {
          source: 'bench',
          idempotencyKey: idempotencyKey(k),
          event: {
            type: 'ticket.closed',
            occurredAt: new Date().toISOString(),
            ticket: { id: `MEM-${k}` },
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

/** Feeds `count` more jobs, at most BACKLOG waiting, and waits until the sandbox has seen them all. */
async function run(count: number, report: boolean): Promise<void> {
  const target = puts + count;
  const last = enqueued + count;
  const started = Date.now();
  let lastReport = started;
  while (puts < target) {
    if (Date.now() - started > TIMEOUT_MS) throw new Error(`timed out after ${puts} of ${target} jobs`);
    if (enqueued < last) {
      const waiting = await producer.queue.getWaitingCount();
      if (waiting < BACKLOG / 2) await enqueue(Math.min(BACKLOG - waiting, last - enqueued));
    }
    await sleep(100);
    drainCalls();
    if (report && Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      const memory = await memoryOf(workerPid());
      const done = puts - (target - count);
      console.log(
        `  ${done} of ${count} jobs, ${Math.round(done / ((Date.now() - started) / 1000))} jobs/s, ` +
          `worker RSS ${memory ? mib(memory.rss) : '?'}`,
      );
    }
  }
}

function workerPid(): number {
  const pid = world.workers()[0]?.child.pid;
  if (pid === undefined) throw new Error('no worker process');
  return pid;
}

async function usedMemory(): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

/** MEMORY USAGE … SAMPLES 0 of each key (a pipeline), their mean. */
async function meanUsage(keys: string[]): Promise<number> {
  if (keys.length === 0) return Number.NaN;
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
  const sizes = ((await pipeline.exec()) ?? []).map(([, size]) => Number(size)).filter((n) => n > 0);
  return sizes.reduce((a, b) => a + b, 0) / sizes.length;
}

/** Steady: RSS once the worker is idle, after the pause for its timers and the GC to settle. */
async function idleMemory(): Promise<{ rss: number; peak: number }> {
  await sleep(2_000);
  const memory = await memoryOf(workerPid());
  if (!memory) throw new Error('cannot read the worker process memory (/proc)');
  return memory;
}

try {
  seedTaskPool(state, ids, LOCATIONS, POOL);
  const usedBefore = await usedMemory();
  await world.startWorkers(1, {
    GHL_LOCATION_TOKENS: Array.from({ length: LOCATIONS }, (_, i) => `${locationId(i)}=${tokenOf(i)}`).join(
      ' ',
    ),
    WORKER_CONCURRENCY: String(CONCURRENCY),
    LOCATION_CONCURRENCY: String(CONCURRENCY),
  });
  console.log(
    `one worker process × concurrency ${CONCURRENCY}, ${LOCATIONS} locations, ${POOL} tasks, ` +
      `at most ${BACKLOG} waiting; ${WARMUP} warm-up jobs, then ${JOBS} jobs; ` +
      `Redis ${world.ownRedis ? 'own redis-server' : 'REDIS_URL (used_memory includes other data)'}`,
  );
  const atStart = await idleMemory();
  await run(WARMUP, false);
  const afterWarmup = await idleMemory();
  const measureStart = Date.now();
  await run(JOBS, true);
  const runMs = Date.now() - measureStart;
  const after = await idleMemory();
  drainCalls();
  const usedAfter = await usedMemory();
  const done = WARMUP + JOBS;

  // Redis per key class, sampled.
  const prefix = world.prefix;
  const completedKey = `${prefix}:${TASK_UPDATES_QUEUE}:completed`;
  const keptCompleted = await redis.zcard(completedKey);
  const sampledIds = await redis.zrandmember(completedKey, Math.min(SAMPLES, keptCompleted));
  const jobBytes = await meanUsage(sampledIds.map((id) => jobKeyFor(prefix, TASK_UPDATES_QUEUE, id)));
  const completedSetBytes = Number(await redis.call('MEMORY', 'USAGE', completedKey, 'SAMPLES', '0'));
  const dataLengths = await Promise.all(
    sampledIds
      .slice(0, 100)
      .map(async (id) => (await redis.hget(jobKeyFor(prefix, TASK_UPDATES_QUEUE, id), 'data'))?.length ?? 0),
  );
  const dataBytes = dataLengths.reduce((a, b) => a + b, 0) / Math.max(1, dataLengths.length);
  const step = Math.max(1, Math.floor(done / SAMPLES));
  const dedupeKeys = Array.from({ length: Math.min(SAMPLES, done) }, (_, s) =>
    dedupeKeyFor(prefix, jobIdFor('bench', idempotencyKey(s * step))),
  );
  const dedupeBytes = await meanUsage(dedupeKeys);
  const dedupeRaw = (dedupeKeys[0]?.length ?? 0) + ((await redis.get(dedupeKeys[0] ?? ''))?.length ?? 0);
  const markerBytes = await meanUsage(
    Array.from({ length: Math.min(SAMPLES, POOL) }, (_, s) => `${prefix}:task-order:${taskId(s)}`),
  );
  const figures = {
    bench: 'memory',
    jobs: JOBS,
    warmupJobs: WARMUP,
    concurrency: CONCURRENCY,
    runMs,
    jobsPerSecond: round(JOBS / (runMs / 1000)),
    nonOkAnswers: nonOk,
    workerRssStartBytes: atStart.rss,
    workerRssAfterWarmupBytes: afterWarmup.rss,
    workerRssAfterBytes: after.rss,
    workerRssPeakBytes: after.peak,
    workerRssGrowthBytes: after.rss - afterWarmup.rss,
    workerRssRatio: round(after.rss / afterWarmup.rss, 3),
    keptCompletedJobs: keptCompleted,
    redisBytesPerCompletedJob: Math.round(jobBytes + completedSetBytes / Math.max(1, keptCompleted)),
    redisBytesPerCompletedJobHash: Math.round(jobBytes),
    jobDataBytes: Math.round(dataBytes),
    redisBytesPerDedupeRecord: Math.round(dedupeBytes),
    dedupeRecordRawBytes: dedupeRaw,
    redisBytesPerOrderMarker: Math.round(markerBytes),
    redisUsedMemoryBeforeBytes: usedBefore,
    redisUsedMemoryAfterBytes: usedAfter,
    redisUsedMemoryPerJobBytes: Math.round((usedAfter - usedBefore) / done),
    samples: SAMPLES,
    ownRedis: world.ownRedis,
  };
  const rows: string[][] = [
    ['figure', 'measured', 'baseline'],
    [
      `worker RSS after ${JOBS} jobs`,
      `${mib(after.rss)} (${figures.workerRssRatio}×, peak ${mib(after.peak)})`,
      `${mib(afterWarmup.rss)} after ${WARMUP} warm-up jobs (${mib(atStart.rss)} at start)`,
    ],
    [
      `Redis per kept completed job (${keptCompleted} kept)`,
      `${figures.redisBytesPerCompletedJob} B`,
      `${figures.jobDataBytes} B of job data`,
    ],
    ['Redis per dedupe record', `${figures.redisBytesPerDedupeRecord} B`, `${dedupeRaw} B of key + value`],
    ['Redis per order marker (per task)', `${figures.redisBytesPerOrderMarker} B`, ''],
    [
      'Redis used_memory growth per job',
      `${figures.redisUsedMemoryPerJobBytes} B (${mib(usedAfter - usedBefore)} for ${done})`,
      '',
    ],
    ['throughput while measured', `${figures.jobsPerSecond} jobs/s`, ''],
  ];
  const widths = [0, 1, 2].map((c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  '));
  const problems = world.problems();
  if (problems.length > 0) console.log(`worker warnings (first ${problems.length}):\n${problems.join('\n')}`);
  console.log(JSON.stringify({ ...figures, workerWarnings: problems.length }));
} finally {
  clearInterval(drainTimer);
  await waitFor(async () => (await producer.queue.getActiveCount()) === 0, {
    timeoutMs: 30_000,
    description: 'the last jobs to finish',
  }).catch(() => undefined);
  await world.close();
}
