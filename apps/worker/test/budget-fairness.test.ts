import { describe, expect, it } from '@jest/globals';
import type { RateWindow } from '@closeloop/ghl-sandbox';
import { waitFor } from '@closeloop/test-support';
import type { Job } from 'bullmq';
import {
  CONTACT_A,
  CONTACT_B,
  LOC_A,
  LOC_B,
  TOKEN_A,
  TOKEN_B,
  eventFor,
  newTaskId,
  useCleanup,
  waitForWorkerStarted,
  workerEnv,
  type Harness,
} from './harness.js';
import type { TaskUpdateResult } from '../src/task-worker.js';

/**
 * The per-location budget (src/rate-budget.ts, docs/rate-budget.md) with two worker processes
 * against the sandbox's own rate limits: no 429 whichever window GHL counts, a backlog that is not
 * activated again and again, and a backlog that does not hold up another location.
 */
const { harness: openHarness, spawn } = useCleanup();

const LOC_C = 'locC0000000000000003';
const TOKEN_C = 'pit-token-c-secret';
const CONTACT_C = 'contactC000000000003';

/** A harness without an in-process worker, whose sandbox counts `limit` requests per `intervalMs`. */
async function limitedHarness(limit: number, intervalMs: number, rateWindow: RateWindow): Promise<Harness> {
  const h = await openHarness({
    startWorker: false,
    sandbox: { burstLimit: limit, burstIntervalMs: intervalMs, rateWindow },
  });
  await h.sandbox.control.seed({
    locations: [{ id: LOC_C, tokens: [TOKEN_C] }],
    contacts: [{ id: CONTACT_C, locationId: LOC_C, email: 'c@example.com' }],
  });
  return h;
}

const LOCATIONS = [
  { locationId: LOC_A, contactId: CONTACT_A },
  { locationId: LOC_B, contactId: CONTACT_B },
  { locationId: LOC_C, contactId: CONTACT_C },
] as const;

type Location = (typeof LOCATIONS)[number];

/** Seeds `count` open tasks of a location and enqueues one close event for each. */
async function backlog(
  h: Harness,
  location: Location,
  count: number,
): Promise<Job<unknown, TaskUpdateResult>[]> {
  const ids = Array.from({ length: count }, () => newTaskId(location.locationId.slice(0, 4)));
  await h.sandbox.control.seed({
    tasks: ids.map((id) => ({ id, contactId: location.contactId, title: `Task ${id}` })),
  });
  const jobs: Job<unknown, TaskUpdateResult>[] = [];
  for (let k = 0; k < ids.length; k += 50) {
    jobs.push(
      ...(await Promise.all(
        ids.slice(k, k + 50).map((id) =>
          h.enqueue({
            ...eventFor(id),
            ghl: { locationId: location.locationId, contactId: location.contactId, taskId: id },
          }),
        ),
      )),
    );
  }
  return jobs;
}

/** Two worker processes whose configured budget is the sandbox's (GHL's headers confirm it). */
async function twoWorkers(h: Harness, limit: number, intervalMs: number): Promise<void> {
  const env = workerEnv(h.sandbox.url, h.prefix, {
    GHL_LOCATION_TOKENS: `${LOC_A}=${TOKEN_A} ${LOC_B}=${TOKEN_B} ${LOC_C}=${TOKEN_C}`,
    RATE_LIMIT_PER_INTERVAL: String(limit),
    RATE_LIMIT_INTERVAL_MS: String(intervalMs),
    LOG_LEVEL: 'info',
  });
  const workers = [spawn(env), spawn(env)];
  await Promise.all(workers.map((worker) => waitForWorkerStarted(worker)));
}

/** Every job completed, awaited on the queue's counts (one waitUntilFinished per job would add a listener each). */
async function allCompleted(h: Harness, count: number, timeoutMs: number): Promise<void> {
  await waitFor(async () => (await h.queue.getJobCountByTypes('completed')) === count, {
    timeoutMs,
    intervalMs: 100,
    description: `${count} jobs to complete`,
  });
}

async function putStatuses(h: Harness): Promise<number[]> {
  return (await h.sandbox.control.calls({ method: 'PUT' })).map((call) => call.status);
}

describe('budget across worker processes', () => {
  it.each<RateWindow>(['sliding', 'fixed'])(
    'When two worker processes share 3 locations × 15 jobs at 5 per 1 s (%s window), then GHL answers no 429 and every job is done',
    async (rateWindow) => {
      const h = await limitedHarness(5, 1_000, rateWindow);
      await twoWorkers(h, 5, 1_000);
      const jobs = (await Promise.all(LOCATIONS.map((location) => backlog(h, location, 15)))).flat();

      await allCompleted(h, jobs.length, 20_000);

      const tasks = await Promise.all(
        jobs.map(async (job) =>
          h.sandbox.control.getTask(((await h.reload(job)).returnvalue as { taskId: string }).taskId),
        ),
      );
      expect(tasks.filter((task) => task?.completed !== true)).toEqual([]);
      const statuses = await putStatuses(h);
      expect(statuses.filter((status) => status === 429)).toHaveLength(0);
      expect(statuses).toHaveLength(45);
      expect(await h.deadLetterCount()).toBe(0);
    },
    30_000,
  );

  // The first case is the budget's own pace; the second makes GHL answer a third of the window
  // late, which a loaded machine also does (answers are recorded late). Before slots were planned
  // from when answers are expected (src/rate-budget.ts countedBy), that case cost 3.8 activations
  // per call, up to 12 for one job, and more the longer the backlog.
  it.each([
    { latencyMs: 0, perCall: 2.5 },
    { latencyMs: 300, perCall: 3 },
  ])(
    'When one location has a backlog of 200 jobs at 20 per 1 s and GHL answers after $latencyMs ms, then no job is activated more than 6 times, and at most $perCall times per GHL call on average',
    async ({ latencyMs, perCall }) => {
      const h = await limitedHarness(20, 1_000, 'sliding');
      await twoWorkers(h, 20, 1_000);
      if (latencyMs > 0) {
        await h.sandbox.control.injectFault({ taskId: LOC_A.slice(0, 4), latencyMs, ratio: 1 });
      }
      const jobs = await backlog(h, LOCATIONS[0], 200);

      await allCompleted(h, jobs.length, 30_000);

      // BullMQ counts every start of a job in attemptsStarted, the ones ended by a delay too (docs/bullmq.md §1).
      const activations = (await Promise.all(jobs.map((job) => h.reload(job)))).map(
        (job) => job.attemptsStarted,
      );
      const calls = (await putStatuses(h)).length;
      expect(calls).toBeGreaterThanOrEqual(200);
      // A job is activated to reserve its slot, and again to claim it; a claim that finds its window
      // still full for longer than a short wait takes the next free slot (docs/rate-budget.md). Measured
      // here: at most 2 for a job in the first case, 3–4 in the second (alone and beside 3 busy
      // processes). Churn (a recheck every window) grows with the backlog: 12 for one job here before.
      expect(Math.max(...activations)).toBeLessThanOrEqual(6);
      // Measured: 1.9–1.95 per call in the first case, 2.07–2.32 in the second. The bounds leave room
      // for a loaded machine, on which answers are recorded late and some claims wait once more.
      const total = activations.reduce((sum, n) => sum + n, 0);
      expect(total / calls).toBeLessThanOrEqual(perCall);
    },
    45_000,
  );

  it('When location A has a backlog of 500 jobs, then a job for location B reaches GHL within 2 s of being enqueued', async () => {
    const h = await limitedHarness(10, 1_000, 'sliding');
    await twoWorkers(h, 10, 1_000);
    await backlog(h, LOCATIONS[0], 500);
    await waitFor(async () => (await putStatuses(h)).length > 0, {
      description: "A's first call to reach GHL",
    });

    const [jobB] = await backlog(h, LOCATIONS[1], 1);
    if (!jobB) throw new Error('no job enqueued for location B');
    await h.finished(jobB, 10_000);

    // The outcome here is a time: the fairness target is "within 2 s" (docs/rate-budget.md,
    // "Targets"), measured from the enqueue (BullMQ's job timestamp) to the call in GHL's log.
    const callsB = (await h.sandbox.control.calls({ method: 'PUT' })).filter(
      (call) => call.tokenLocationId === LOC_B,
    );
    expect(callsB).toHaveLength(1);
    const reachedGhlAfterMs = Date.parse(callsB[0]?.at ?? '') - jobB.timestamp;
    expect(reachedGhlAfterMs).toBeLessThanOrEqual(2_000);
  }, 30_000);

  it("When GHL answers location A in 1 s and A has 12 jobs for 2 places in flight, then a job for B reaches GHL within 2 s, and A's jobs are woken by the places that free, not activated again and again", async () => {
    const h = await limitedHarness(100, 10_000, 'sliding');
    const env = workerEnv(h.sandbox.url, h.prefix, {
      GHL_LOCATION_TOKENS: `${LOC_A}=${TOKEN_A} ${LOC_B}=${TOKEN_B}`,
      LOCATION_CONCURRENCY: '2',
      LOG_LEVEL: 'info',
    });
    const workers = [spawn(env), spawn(env)];
    await Promise.all(workers.map((worker) => waitForWorkerStarted(worker)));
    await h.sandbox.control.injectFault({ taskId: LOC_A.slice(0, 4), latencyMs: 1_000, ratio: 1 });
    const jobsA = await backlog(h, LOCATIONS[0], 12);
    await waitFor(async () => (await h.queue.getActiveCount()) >= 2, { description: "A's first held calls" });

    const [jobB] = await backlog(h, LOCATIONS[1], 1);
    if (!jobB) throw new Error('no job enqueued for location B');
    await h.finished(jobB, 10_000);
    const callB = (await h.sandbox.control.calls({ method: 'PUT' })).find(
      (call) => call.tokenLocationId === LOC_B,
    );
    expect(Date.parse(callB?.at ?? '') - jobB.timestamp).toBeLessThanOrEqual(2_000);

    await allCompleted(h, jobsA.length + 1, 20_000);
    const callsA = (await h.sandbox.control.calls({ method: 'PUT' })).filter(
      (call) => call.tokenLocationId === LOC_A,
    );
    expect(callsA.filter((call) => call.status === 200)).toHaveLength(12);
    const activations = (await Promise.all(jobsA.map((job) => h.reload(job)))).reduce(
      (sum, job) => sum + job.attemptsStarted,
      0,
    );
    // Each waiting job: refused once, woken once when a place frees (a recheck every second would
    // be about 3 per job here, and grows with the backlog and the latency).
    expect(activations / callsA.length).toBeLessThanOrEqual(2);
  }, 40_000);
});
