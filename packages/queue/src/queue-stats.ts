import type { Job, JobType, Queue } from 'bullmq';

/**
 * What an operator (`closeloop queue stats`) and the worker's /metrics read about a queue: counts per
 * state, how long the job next in line has waited, and where the backlog is. One module, so the
 * command and the metrics cannot disagree on what "waiting" or "backlog" means.
 */

/** Every state BullMQ 6.7 counts (its own default list in `Queue#getJobCounts`, queue-getters.js). */
export const QUEUE_STATES = [
  'waiting',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
  'completed',
  'failed',
] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueCounts = Record<QueueState, number>;

/**
 * The states whose jobs are still to be applied: the backlog. `active` is not backlog (a worker has
 * it), nor is `waiting-children` (task-update jobs have no children).
 */
export const BACKLOG_STATES = ['waiting', 'delayed', 'prioritized'] as const;

/** The backlog key for a job without `event.ghl.locationId` (single-location mode: the worker's GHL_LOCATION_ID). */
export const DEFAULT_LOCATION_KEY = '(default)';

/** How many backlog jobs `readQueueStats` reads at most, unless told otherwise. */
export const DEFAULT_STATS_MAX_SCAN = 10_000;

export interface QueueStats {
  counts: QueueCounts;
  /** Age of the job next in line in `waiting`, since it was added; null when nothing waits. */
  oldestWaitingAgeMs: number | null;
  /** Backlog jobs (waiting + delayed + prioritized) per `event.ghl.locationId`, among those scanned. */
  backlogByLocation: Record<string, number>;
  /** How many backlog jobs were read to build `backlogByLocation`. */
  scanned: number;
  /** True when the backlog is larger than `maxScan`: `backlogByLocation` then covers only part of it. */
  truncated: boolean;
}

export interface ReadQueueStatsOptions {
  /** The clock, for the age (ms since the epoch). Defaults to Date.now(). */
  now?: number;
  /** The most backlog jobs to read (each costs Redis a read of the job hash). */
  maxScan?: number;
}

// A Queue of any job data: the stats read the queue, not its typed payload.
type AnyQueue = Queue<unknown, unknown, string>;

/** Counts per state, every state present (0 when empty). One Lua call (getCounts). */
export async function readQueueCounts(queue: AnyQueue): Promise<QueueCounts> {
  const raw = await queue.getJobCounts(...QUEUE_STATES);
  const counts = {} as QueueCounts;
  for (const state of QUEUE_STATES) counts[state] = raw[state] ?? 0;
  return counts;
}

/**
 * How long the job next in line has been in the queue: now − its `timestamp` (when it was added).
 * Reads one job: the tail of the wait list, which is what a worker takes next (BullMQ adds to the
 * head with LPUSH and takes from the tail; `getJobs(['wait'], 0, 0, true)` reads the tail, see
 * getRanges-1.lua). BullMQ keeps no "entered wait at" time: a job that came back from a delay or a
 * retry keeps its original timestamp, so the age is the event's age, which is what a stuck queue
 * alert wants. Null when nothing waits; never negative (clock skew between hosts).
 */
export async function readOldestWaitingAgeMs(
  queue: AnyQueue,
  now: number = Date.now(),
): Promise<number | null> {
  const [next] = (await queue.getJobs(['wait'], 0, 0, true)) as Array<Job | undefined>;
  if (!next) return null;
  return Math.max(0, now - next.timestamp);
}

/** Counts, the age of the job next in line, and the backlog per location (bounded by `maxScan`). */
export async function readQueueStats(
  queue: AnyQueue,
  options: ReadQueueStatsOptions = {},
): Promise<QueueStats> {
  const now = options.now ?? Date.now();
  const maxScan = options.maxScan ?? DEFAULT_STATS_MAX_SCAN;
  const [counts, oldestWaitingAgeMs] = await Promise.all([
    readQueueCounts(queue),
    readOldestWaitingAgeMs(queue, now),
  ]);
  const backlog = BACKLOG_STATES.reduce((sum, state) => sum + counts[state], 0);

  const backlogByLocation: Record<string, number> = {};
  let scanned = 0;
  const pageSize = 500;
  for (const state of BACKLOG_STATES) {
    // `getJobs` takes the list name `wait` for the state `waiting`.
    const type: JobType = state === 'waiting' ? 'wait' : state;
    for (let start = 0; scanned < maxScan; start += pageSize) {
      const end = start + Math.min(pageSize, maxScan - scanned) - 1;
      const jobs = (await queue.getJobs([type], start, end, true)) as Array<Job | undefined>;
      for (const job of jobs) {
        if (!job) continue;
        const location = locationOf(job.data);
        backlogByLocation[location] = (backlogByLocation[location] ?? 0) + 1;
        scanned += 1;
      }
      if (jobs.length < end - start + 1) break;
    }
  }
  // The lists move while they are read (jobs taken, added): the counts are one consistent snapshot,
  // the per-location figures a close approximation. Truncated when the snapshot says more than we read.
  return {
    counts,
    oldestWaitingAgeMs,
    backlogByLocation,
    scanned,
    truncated: backlog > scanned && scanned >= maxScan,
  };
}

/** The job's `event.ghl.locationId`, read without trusting the data (an INVALID_JOB may be waiting). */
function locationOf(data: unknown): string {
  const location = (data as { event?: { ghl?: { locationId?: unknown } } } | null | undefined)?.event?.ghl
    ?.locationId;
  return typeof location === 'string' && location !== '' ? location : DEFAULT_LOCATION_KEY;
}
