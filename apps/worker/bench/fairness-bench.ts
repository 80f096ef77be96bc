/**
 * `pnpm bench fairness`: does one location's trouble hold up another's work? Issue 8's two cases,
 * with worker processes as `pnpm start:worker` runs them:
 *
 * - **backlog**: location A gets a backlog of `--backlog` jobs (default 10,000) at GHL's 100 per 10 s;
 * - **slow**: GHL answers location C's calls after `--slow-ms` (default 8,000) and C has `--slow-jobs`
 *   (default 1,000) jobs waiting.
 *
 * In each case, once the trouble is under way (its backlog enqueued, or its first calls held), one job
 * for location B is enqueued every second, `--probes` times (default 5). The figure is each probe's
 * time from its enqueue (BullMQ's timestamp) to its PUT in the sandbox's call log, beside the same
 * probes' time in an unloaded run of the same workers first (the baseline). The target is 2 s.
 *
 * The backlog case also reports the churn: Σ attemptsStarted of A's jobs (BullMQ counts every start,
 * docs/bullmq.md §1) over A's GHL calls, in the run and per job: a job reserves its slot on its first
 * activation and claims it on its second, so no job is activated again and again, whatever the backlog.
 *
 *   pnpm bench fairness [--backlog 10000] [--slow-ms 8000] [--slow-jobs 1000] [--probes 5]
 *                       [--workers 2] [--concurrency 50]
 *
 * Load stays on 127.0.0.1, bounded by the job counts and a deadline per step.
 */
import { parseArgs } from 'node:util';
import { enqueueTaskUpdate, type TaskEvent } from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import { ms, quantile, round, openBenchWorld, positiveInteger } from './bench-support.js';

const { values: flags } = parseArgs({
  options: {
    backlog: { type: 'string' },
    'slow-ms': { type: 'string' },
    'slow-jobs': { type: 'string' },
    probes: { type: 'string' },
    workers: { type: 'string' },
    concurrency: { type: 'string' },
  },
  allowPositionals: true,
});

const setting = (name: keyof typeof flags, fallback: number): number =>
  positiveInteger(name, flags[name], fallback);

const BACKLOG = setting('backlog', 10_000);
const SLOW_MS = setting('slow-ms', 8_000);
const SLOW_JOBS = setting('slow-jobs', 1_000);
const PROBES = setting('probes', 5);
const WORKERS = setting('workers', 2);
const CONCURRENCY = setting('concurrency', 50);
const LIMIT = 100;
const INTERVAL_MS = 10_000;
const TARGET_MS = 2_000;

const LOC_A = 'fairLocA';
const LOC_C = 'fairLocC';
const LOC_B = 'fairLocB';
const TOKENS = { [LOC_A]: 'pit-fair-a', [LOC_B]: 'pit-fair-b', [LOC_C]: 'pit-fair-c' };
const CONTACTS = { [LOC_A]: 'fairContactA', [LOC_B]: 'fairContactB', [LOC_C]: 'fairContactC' };

const world = await openBenchWorld({
  name: 'fair',
  burstLimit: LIMIT,
  burstIntervalMs: INTERVAL_MS,
  rateWindow: 'sliding',
});
const { state, control, producer } = world;

// B's PUTs by task id, drained from the sandbox's call log (A's calls are counted, not kept).
const putAtByTask = new Map<string, number>();
let putsA = 0;
let putsC = 0;
const drainCalls = (): void => {
  for (const call of state.calls.list({ method: 'PUT' })) {
    if (call.tokenLocationId === LOC_A) putsA += 1;
    if (call.tokenLocationId === LOC_C) putsC += 1;
    const task = /\/tasks\/([^/]+)\/completed/.exec(call.path)?.[1];
    if (task && call.tokenLocationId === LOC_B) putAtByTask.set(task, Date.parse(call.at));
  }
  state.calls.clear();
};
const drainTimer = setInterval(drainCalls, 100);

let seq = 0;
function event(locationId: string, taskId: string): TaskEvent {
  return {
    type: 'ticket.closed',
    occurredAt: new Date().toISOString(),
    ticket: { id: `FAIR-${taskId}` },
    ghl: { locationId, contactId: CONTACTS[locationId as keyof typeof CONTACTS], taskId },
  };
}

async function enqueue(locationId: string, taskIds: string[]): Promise<Map<string, string>> {
  const jobIds = new Map<string, string>();
  for (let k = 0; k < taskIds.length; k += 200) {
    await Promise.all(
      taskIds.slice(k, k + 200).map(async (taskId) => {
        seq += 1;
        const { jobId } = await enqueueTaskUpdate(producer, {
          source: 'bench',
          idempotencyKey: `${taskId}-${seq}`,
          event: event(locationId, taskId),
        });
        jobIds.set(taskId, jobId);
      }),
    );
  }
  return jobIds;
}

/** One B job a second, `PROBES` times; each one's time from enqueue to its PUT in the sandbox. */
async function probeB(round: string): Promise<number[]> {
  const taskIds = Array.from({ length: PROBES }, (_, p) => `fairTaskB-${round}-${p}`);
  const jobIds: string[] = [];
  for (const taskId of taskIds) {
    const [jobId] = (await enqueue(LOC_B, [taskId])).values();
    if (jobId) jobIds.push(jobId);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  await waitFor(
    () => {
      drainCalls();
      return taskIds.every((taskId) => putAtByTask.has(taskId));
    },
    { timeoutMs: 60_000, intervalMs: 100, description: `B's ${round} probes to reach GHL` },
  );
  const latencies: number[] = [];
  for (const [index, jobId] of jobIds.entries()) {
    const job = await producer.queue.getJob(jobId);
    const putAt = putAtByTask.get(taskIds[index] ?? '');
    if (job && putAt !== undefined) latencies.push(putAt - job.timestamp);
  }
  return latencies.sort((a, b) => a - b);
}

const summary = (latencies: number[]): string =>
  `p50 ${ms(quantile(latencies, 0.5))}, max ${ms(Math.max(...latencies))}`;

try {
  const aTasks = Array.from({ length: BACKLOG }, (_, j) => `fairTaskA-${j}`);
  const cTasks = Array.from({ length: SLOW_JOBS }, (_, j) => `fairTaskC-${j}`);
  const bTasks = ['unloaded', 'backlog', 'slow'].flatMap((r) =>
    Array.from({ length: PROBES }, (_, p) => `fairTaskB-${r}-${p}`),
  );
  await control.seed({
    locations: [LOC_A, LOC_B, LOC_C].map((id) => ({ id, tokens: [TOKENS[id as keyof typeof TOKENS]] })),
    contacts: [LOC_A, LOC_B, LOC_C].map((id) => ({
      id: CONTACTS[id as keyof typeof CONTACTS],
      locationId: id,
    })),
    tasks: [
      ...aTasks.map((id) => ({ id, contactId: CONTACTS[LOC_A], title: 'bench' })),
      ...cTasks.map((id) => ({ id, contactId: CONTACTS[LOC_C], title: 'bench' })),
      ...bTasks.map((id) => ({ id, contactId: CONTACTS[LOC_B], title: 'bench' })),
    ],
  });
  const env = await world.startWorkers(WORKERS, {
    GHL_LOCATION_TOKENS: [LOC_A, LOC_B, LOC_C]
      .map((id) => `${id}=${TOKENS[id as keyof typeof TOKENS]}`)
      .join(' '),
    WORKER_CONCURRENCY: String(CONCURRENCY),
  });
  console.log(
    `${WORKERS} worker processes × concurrency ${CONCURRENCY}, ${LIMIT} per ${INTERVAL_MS / 1000} s per location ` +
      `(sliding window), LOCATION_CONCURRENCY ${env.LOCATION_CONCURRENCY ?? 'worker default'}, ` +
      `Redis ${world.ownRedis ? 'own redis-server' : 'REDIS_URL'}`,
  );

  const unloaded = await probeB('unloaded');

  // The backlog: A's jobs all enqueued, its first calls made; then B's probes.
  const backlogStart = Date.now();
  const aJobs = await enqueue(LOC_A, aTasks.slice(0, BACKLOG));
  const enqueuedMs = Date.now() - backlogStart;
  const backlog = await probeB('backlog');
  drainCalls();
  const backlogRunMs = Date.now() - backlogStart;
  let activationsA = 0;
  let maxPerJob = 0;
  for (const jobId of aJobs.values()) {
    const job = await producer.queue.getJob(jobId);
    activationsA += job?.attemptsStarted ?? 0;
    maxPerJob = Math.max(maxPerJob, job?.attemptsStarted ?? 0);
  }
  const putsABacklog = putsA;
  await producer.queue.obliterate({ force: true });

  // Slow: every call of C is answered after SLOW_MS; C's jobs enqueued, its first calls held. (A's
  // backlog is gone with the queue; its reserved slots stay in A's log, which C does not share.)
  await control.injectFault({ taskId: 'fairTaskC-', latencyMs: SLOW_MS, ratio: 1 });
  const slowStart = Date.now();
  const slowJobs = await enqueue(LOC_C, cTasks);
  // Held calls are logged when answered; A's trouble is under way once its calls fill their places.
  await waitFor(async () => (await producer.queue.getActiveCount()) >= 5, {
    timeoutMs: 30_000,
    intervalMs: 100,
    description: "C's first slow calls",
  });
  const slow = await probeB('slow');
  const activeDuringSlow = await producer.queue.getActiveCount();
  // Two rounds of C's slow calls, then its churn: activations of C's jobs over C's calls.
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, slowStart + 2 * SLOW_MS + 1_000 - Date.now())),
  );
  drainCalls();
  const slowRunMs = Date.now() - slowStart;
  let slowActivations = 0;
  for (const jobId of slowJobs.values())
    slowActivations += (await producer.queue.getJob(jobId))?.attemptsStarted ?? 0;
  const slowCallsC = putsC + (await producer.queue.getActiveCount());

  const figures = {
    bench: 'fairness',
    workers: WORKERS,
    concurrency: CONCURRENCY,
    targetMs: TARGET_MS,
    unloadedMs: unloaded,
    backlog: BACKLOG,
    backlogEnqueuedMs: enqueuedMs,
    backlogMs: backlog,
    backlogRunMs,
    backlogGhlCallsA: putsABacklog,
    backlogActivationsA: activationsA,
    backlogActivationsPerCallInRun: round(activationsA / Math.max(1, putsABacklog), 2),
    backlogActivationsPerJobMax: maxPerJob,
    slowMs: SLOW_MS,
    slowJobs: SLOW_JOBS,
    slowProbeMs: slow,
    activeJobsDuringSlow: activeDuringSlow,
    slowRunMs,
    slowGhlCallsC: slowCallsC,
    slowActivationsC: slowActivations,
  };
  const rows: Array<[string, string, string, string]> = [
    ['case', 'B: enqueue → GHL', 'baseline (unloaded, same run)', 'target'],
    [`A has a backlog of ${BACKLOG}`, summary(backlog), summary(unloaded), `≤ ${ms(TARGET_MS)}`],
    [
      `C answers in ${ms(SLOW_MS)} (${SLOW_JOBS} jobs)`,
      summary(slow),
      summary(unloaded),
      `≤ ${ms(TARGET_MS)}`,
    ],
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c]?.length ?? 0)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('  '));
  console.log(
    `backlog churn: A's ${BACKLOG} jobs enqueued in ${ms(enqueuedMs)}; in the ${ms(backlogRunMs)} run, ` +
      `${activationsA} activations for ${putsABacklog} GHL calls; at most ${maxPerJob} activations per job`,
  );
  console.log(
    `slow churn: in the ${ms(slowRunMs)} run, ${slowActivations} activations of C's jobs for ${slowCallsC} ` +
      `GHL calls (answered or in flight)`,
  );
  const problems = world.problems();
  if (problems.length > 0) console.log(`worker warnings (first ${problems.length}):\n${problems.join('\n')}`);
  console.log(JSON.stringify(figures));
} finally {
  clearInterval(drainTimer);
  await world.close();
}
