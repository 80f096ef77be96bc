import { Queue, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { createRedisConnection } from './connection.js';
import { DeadLetter, type DeadLetterMatch, type DeadLetterReason } from './dead-letter-schema.js';
import { TASK_UPDATE_JOB_OPTIONS } from './job-options.js';
import {
  DEAD_LETTER_JOB_NAME,
  DEAD_LETTER_QUEUE,
  DEFAULT_QUEUE_PREFIX,
  TASK_UPDATE_JOB_NAME,
  TASK_UPDATES_QUEUE,
} from './names.js';
import { firstAttemptKeyFor, jobKeyFor } from './task-update-keys.js';

/**
 * The dead-letter lifecycle, one module: the worker writes a dead letter (`writeDeadLetter`) and
 * clears it when a re-run succeeds; operators list, show, replay and purge them. A dead letter is a
 * job in `task-updates-dead` whose id is the original job's id (docs/contracts.md, "Dead letters").
 * Nothing consumes `task-updates-dead`, so its jobs stay in its wait list until replayed or purged.
 */

/** How long bookkeeping for a job is kept at most: as long as the failed set keeps the job (30 days). */
const BOOKKEEPING_TTL_SECONDS = 30 * 24 * 60 * 60;

/**
 * Replaces the data of an existing dead letter in place (BullMQ keeps a job's data as JSON in the
 * `data` field of its hash, as `job.updateData` writes it); 0 when there is none, and the caller adds it.
 */
const REPLACE_DEAD_LETTER = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1])
return 1
`;

/**
 * Removes a dead letter only if its data is still exactly what the replay read: a letter the worker
 * wrote meanwhile (the replayed job failed again) stays. It removes what BullMQ's removeJob removes
 * for a job in a queue that has no worker, no parent, no children and no deduplication id — the hash,
 * its logs, its entry in whichever state holds it — and emits the same `removed` event. removeJob
 * itself cannot be made conditional: it is one script, and Redis runs a script as a whole.
 * KEYS: job hash, logs, events, then the state keys; ARGV: expected data, job id.
 */
const REMOVE_DEAD_LETTER_IF_UNCHANGED = `
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 0 end
local prev = 'unknown'
for i = 4, #KEYS do
  local key = KEYS[i]
  local removed
  if redis.call('TYPE', key).ok == 'list' then
    removed = redis.call('LREM', key, 0, ARGV[2])
  else
    removed = redis.call('ZREM', key, ARGV[2])
  end
  if removed > 0 then prev = string.match(key, '[^:]+$') end
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 10000, '*', 'event', 'removed', 'jobId', ARGV[2], 'prev', prev)
return 1
`;

/** Where BullMQ may keep a job: its state lists and sets (removeJobFromAnyState.lua in bullmq 6.7.0). */
const JOB_STATE_KEYS = [
  'wait',
  'paused',
  'active',
  'prioritized',
  'delayed',
  'completed',
  'failed',
  'waiting-children',
];

// ---------------------------------------------------------------------------------------------------
// Writing (the worker)
// ---------------------------------------------------------------------------------------------------

/** What the worker writes dead letters with: its dead-letter queue and its connection. */
export interface DeadLetterStore {
  readonly deadLetters: Queue<DeadLetter>;
  readonly redis: Redis | Cluster;
  readonly prefix: string;
}

export interface DeadLetterInput {
  jobId: string;
  /** The original job data, as it was (it may be invalid: INVALID_JOB). */
  job: unknown;
  reason: DeadLetterReason;
  http?: { status: number; body: unknown } | undefined;
  /** Attempts spent, this one included. */
  attempts: number;
  /** When this attempt started (BullMQ's `processedOn`). */
  attemptStartedAt: number;
  /** True when earlier attempts failed and were retried (BullMQ `attemptsMade > 0`). */
  retriedBefore: boolean;
  /** What went wrong last; never a secret. */
  lastError: string;
  /** NO_MATCH / AMBIGUOUS_MATCH: what was searched and found. */
  match?: DeadLetterMatch | undefined;
}

/**
 * Before the first retry of a job: remembers when its first attempt started, for the dead letter's
 * `firstAttemptAt` should the retries run out.
 */
export async function rememberFirstAttempt(
  store: DeadLetterStore,
  jobId: string,
  startedAt: number,
): Promise<void> {
  await store.redis.set(
    firstAttemptKeyFor(store.prefix, jobId),
    String(startedAt),
    'EX',
    BOOKKEEPING_TTL_SECONDS,
    'NX',
  );
}

/**
 * Writes the job's dead letter and forgets its bookkeeping. The dead letter's id is the job's id, and
 * a write replaces the letter already there: if the worker dies after this write and the job runs
 * again, or a replayed job fails again before the replay has removed the old letter, there is still
 * exactly one, the newest. (The replay removes only the letter it read, see `replayOne`.)
 */
export async function writeDeadLetter(store: DeadLetterStore, input: DeadLetterInput): Promise<DeadLetter> {
  let firstAttemptAt = input.attemptStartedAt;
  if (input.retriedBefore) {
    const stored = await store.redis.get(firstAttemptKeyFor(store.prefix, input.jobId));
    if (stored !== null && Number.isFinite(Number(stored))) firstAttemptAt = Number(stored);
  }
  const letter = DeadLetter.parse({
    job: input.job,
    reason: input.reason,
    ...(input.http && { http: input.http }),
    attempts: input.attempts,
    firstAttemptAt: new Date(firstAttemptAt).toISOString(),
    deadAt: new Date().toISOString(),
    lastError: input.lastError,
    ...(input.match && { match: input.match }),
  });
  const replaced = await store.redis.eval(
    REPLACE_DEAD_LETTER,
    1,
    jobKeyFor(store.prefix, DEAD_LETTER_QUEUE, input.jobId),
    JSON.stringify(letter),
  );
  if (replaced !== 1) await store.deadLetters.add(DEAD_LETTER_JOB_NAME, letter, { jobId: input.jobId });
  if (input.retriedBefore) await store.redis.del(firstAttemptKeyFor(store.prefix, input.jobId));
  return letter;
}

/**
 * After a job completed: no dead letter or bookkeeping may outlive it. A dead letter for a job that
 * then succeeds exists only when the job ran before (written, then the worker died before failing
 * the job), so the caller says what may exist and the common path costs no round trip.
 */
export async function clearDeadLetterAfterSuccess(
  store: DeadLetterStore,
  jobId: string,
  history: { ranBefore: boolean; retriedBefore: boolean },
): Promise<void> {
  if (history.ranBefore) await store.deadLetters.remove(jobId);
  if (history.retriedBefore) await store.redis.del(firstAttemptKeyFor(store.prefix, jobId));
}

// ---------------------------------------------------------------------------------------------------
// Operating (the CLI)
// ---------------------------------------------------------------------------------------------------

export interface DeadLetterQueues {
  readonly deadLetters: Queue;
  readonly taskUpdates: Queue;
  /** The connection both queues use; replay and purge run their own commands on it. */
  readonly redis: Redis | Cluster;
}

export interface DeadLetterAdmin extends DeadLetterQueues {
  close(): Promise<void>;
}

/** Opens both queues on one connection that gives up quickly when Redis is unreachable (for CLIs). */
export async function openDeadLetterAdmin(options: {
  redisUrl: string;
  prefix?: string;
}): Promise<DeadLetterAdmin> {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const redis = createRedisConnection(options.redisUrl, 'worker', {
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    retryStrategy: (times) => (times > 3 ? null : 200 * times),
  });
  redis.on('error', () => undefined);
  const deadLetters = new Queue(DEAD_LETTER_QUEUE, { connection: redis, prefix });
  const taskUpdates = new Queue(TASK_UPDATES_QUEUE, { connection: redis, prefix });
  deadLetters.on('error', () => undefined);
  taskUpdates.on('error', () => undefined);
  const close = async (): Promise<void> => {
    await deadLetters.close();
    await taskUpdates.close();
    redis.disconnect();
  };
  try {
    await Promise.all([deadLetters.waitUntilReady(), taskUpdates.waitUntilReady()]);
  } catch (error) {
    await close();
    throw error;
  }
  return { redis, deadLetters, taskUpdates, close };
}

export interface DeadLetterFilter {
  reason?: DeadLetterReason;
  /** The original event's `ghl.locationId` (jobs that name none match no location). */
  locationId?: string;
  /** `deadAt` at or after this instant. */
  since?: Date;
  /** `deadAt` before this instant. */
  until?: Date;
  /** At most this many, the oldest first, counted after the other filters. */
  limit?: number;
}

export interface DeadLetterEntry {
  /** The dead letter's id, which is the original job's id. */
  id: string;
  letter: DeadLetter;
}

export interface DeadLetterDetails extends DeadLetterEntry {
  /** The original job in task-updates, when it still exists. */
  original?: {
    state: string;
    attemptsMade: number;
    timestamp: number;
    processedOn?: number;
    finishedOn?: number;
    failedReason?: string;
  };
}

/** The dead letters that match `filter`, oldest `deadAt` first. */
export async function listDeadLetters(
  queues: Pick<DeadLetterQueues, 'deadLetters'>,
  filter: DeadLetterFilter = {},
): Promise<DeadLetterEntry[]> {
  const entries: DeadLetterEntry[] = [];
  const pageSize = 500;
  for (let start = 0; ; start += pageSize) {
    const jobs = (await queues.deadLetters.getJobs(['wait'], start, start + pageSize - 1, true)) as Array<
      Job | undefined
    >;
    for (const job of jobs) {
      if (!job?.id) continue;
      const parsed = DeadLetter.safeParse(job.data);
      // A dead letter that does not match the schema was not written by the worker: leave it alone.
      if (!parsed.success) continue;
      if (matches(parsed.data, filter)) entries.push({ id: job.id, letter: parsed.data });
    }
    if (jobs.length < pageSize) break;
  }
  entries.sort((a, b) => Date.parse(a.letter.deadAt) - Date.parse(b.letter.deadAt) || (a.id < b.id ? -1 : 1));
  return filter.limit === undefined ? entries : entries.slice(0, Math.max(0, filter.limit));
}

function matches(letter: DeadLetter, filter: DeadLetterFilter): boolean {
  if (filter.reason !== undefined && letter.reason !== filter.reason) return false;
  if (filter.locationId !== undefined && locationIdOf(letter) !== filter.locationId) return false;
  const deadAt = Date.parse(letter.deadAt);
  if (filter.since !== undefined && deadAt < filter.since.getTime()) return false;
  if (filter.until !== undefined && deadAt >= filter.until.getTime()) return false;
  return true;
}

/** `job.event.ghl.locationId`, read defensively: an INVALID_JOB letter holds whatever the job held. */
function locationIdOf(letter: DeadLetter): string | undefined {
  const job = letter.job as { event?: { ghl?: { locationId?: unknown } } } | null | undefined;
  const locationId = job?.event?.ghl?.locationId;
  return typeof locationId === 'string' ? locationId : undefined;
}

/** One dead letter, with what is left of its original job. */
export async function getDeadLetter(
  queues: DeadLetterQueues,
  id: string,
): Promise<DeadLetterDetails | undefined> {
  const job = (await queues.deadLetters.getJob(id)) as Job | undefined;
  if (!job) return undefined;
  const parsed = DeadLetter.safeParse(job.data);
  if (!parsed.success) return undefined;
  const details: DeadLetterDetails = { id, letter: parsed.data };
  const original = (await queues.taskUpdates.getJob(id)) as Job | undefined;
  if (original) {
    details.original = {
      state: await original.getState(),
      attemptsMade: original.attemptsMade,
      timestamp: original.timestamp,
      ...(original.processedOn !== undefined && { processedOn: original.processedOn }),
      ...(original.finishedOn !== undefined && { finishedOn: original.finishedOn }),
      ...(original.failedReason && { failedReason: original.failedReason }),
    };
  }
  return details;
}

/** Which dead letters a bulk operation acts on; "all" is `{ filter: {} }`. */
export type DeadLetterSelection = { ids: readonly string[] } | { filter: DeadLetterFilter };

export type ReplayOutcome =
  /** The original job was still in the failed set: retried with its attempts reset. */
  | 'retried'
  /** The original job was gone (removeOnFail, or removed by hand): added again under the same id. */
  | 're-added'
  /** The original job was already waiting, delayed, active or completed: only the dead letter was removed. */
  | 'already-queued'
  | 'not-found'
  /** Dry run: the dead letter exists and would be replayed. */
  | 'would-replay';

export interface ReplayReport {
  id: string;
  outcome: ReplayOutcome;
}

export type PurgeOutcome = 'purged' | 'not-found' | 'would-purge';

export interface PurgeReport {
  id: string;
  outcome: PurgeOutcome;
}

export interface BulkOptions {
  /** Report what would happen, change nothing. */
  dryRun?: boolean;
  /** Checked between items: an abort stops after the item in hand; the reports so far are returned. */
  signal?: AbortSignal;
  onProgress?: (report: ReplayReport | PurgeReport, done: number, total: number) => void;
}

/**
 * Sends dead letters back to `task-updates`, one by one. Safe to interrupt and to run again: an
 * item is either still a dead letter or already back in the queue.
 */
export async function replayDeadLetters(
  queues: DeadLetterQueues,
  selection: DeadLetterSelection,
  options: BulkOptions = {},
): Promise<ReplayReport[]> {
  return forEachSelected(queues, selection, options, async (id) => ({
    id,
    outcome: options.dryRun ? await previewReplay(queues, id) : await replayOne(queues, id),
  }));
}

/**
 * Removes dead letters for good, and with each the original job when it is still in the failed set
 * of `task-updates` (a job that is queued again is left alone). The dedupe record stays, so a
 * redelivery within 72 h is still recognised as a duplicate.
 */
export async function purgeDeadLetters(
  queues: DeadLetterQueues,
  selection: DeadLetterSelection,
  options: BulkOptions = {},
): Promise<PurgeReport[]> {
  return forEachSelected(queues, selection, options, async (id) => ({
    id,
    outcome: options.dryRun ? await previewPurge(queues, id) : await purgeOne(queues, id),
  }));
}

async function forEachSelected<R extends ReplayReport | PurgeReport>(
  queues: DeadLetterQueues,
  selection: DeadLetterSelection,
  options: BulkOptions,
  act: (id: string) => Promise<R>,
): Promise<R[]> {
  const ids =
    'ids' in selection
      ? [...new Set(selection.ids)]
      : (await listDeadLetters(queues, selection.filter)).map((entry) => entry.id);
  const reports: R[] = [];
  for (const id of ids) {
    if (options.signal?.aborted) break;
    const report = await act(id);
    reports.push(report);
    options.onProgress?.(report, reports.length, ids.length);
  }
  return reports;
}

async function deadLetterExists(queues: DeadLetterQueues, id: string): Promise<boolean> {
  return (await queues.redis.exists(jobKeyFor(prefixOf(queues.deadLetters), DEAD_LETTER_QUEUE, id))) === 1;
}

async function previewReplay(queues: DeadLetterQueues, id: string): Promise<ReplayOutcome> {
  return (await deadLetterExists(queues, id)) ? 'would-replay' : 'not-found';
}

async function previewPurge(queues: DeadLetterQueues, id: string): Promise<PurgeOutcome> {
  return (await deadLetterExists(queues, id)) ? 'would-purge' : 'not-found';
}

/**
 * One replay (docs/bullmq.md, "A replay that cannot lose the event"), in an order that survives an
 * interruption at any point: the job is sent back first,
 * and the dead letter is removed only once the job exists again — and only if it is still the letter
 * read here (`REMOVE_DEAD_LETTER_IF_UNCHANGED`), so that a replayed job that failed again at once
 * keeps the worker's new letter. Interrupted in between, both exist; a rerun finds the job queued
 * (or done) and removes the letter ('already-queued').
 */
async function replayOne(queues: DeadLetterQueues, id: string): Promise<ReplayOutcome> {
  const deadLetterKey = queues.deadLetters.toKey(id);
  const raw = await queues.redis.hget(deadLetterKey, 'data');
  if (raw === null) return 'not-found';
  const original = await queues.taskUpdates.getJob(id);
  const state = original ? await original.getState() : undefined;

  let outcome: ReplayOutcome;
  if (original && state === 'failed') {
    // Both counters reset: the worker's policy counts attempts from attemptsMade, and an exhausted
    // job retried without the reset would fail again at once (docs/bullmq.md, "Retrying a failed job").
    // retry() leaves BullMQ's stall counter (`stc`) alone (docs/bullmq.md, "The stall counter is not
    // reset"), and the worker dead-letters a job whose counter is past MAX_STALLS before calling GHL:
    // a STALLED_REPEATEDLY letter would come straight back. Reset first, while the job is failed and no worker can touch it; interrupted here, the
    // job is still failed and its letter still there for a rerun.
    await queues.redis.hdel(queues.taskUpdates.toKey(id), 'stc');
    await original.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    outcome = 'retried';
  } else if (original && state !== 'unknown') {
    outcome = 'already-queued';
  } else {
    // Re-added as it was, even when invalid (INVALID_JOB): the worker decides again, perhaps a newer one.
    const data = (JSON.parse(raw) as { job?: unknown } | null)?.job;
    await queues.taskUpdates.add(TASK_UPDATE_JOB_NAME, data, { ...TASK_UPDATE_JOB_OPTIONS, jobId: id });
    outcome = 're-added';
  }
  await queues.redis.eval(
    REMOVE_DEAD_LETTER_IF_UNCHANGED,
    3 + JOB_STATE_KEYS.length,
    deadLetterKey,
    `${deadLetterKey}:logs`,
    queues.deadLetters.toKey('events'),
    ...JOB_STATE_KEYS.map((state) => queues.deadLetters.toKey(state)),
    raw,
    id,
  );
  return outcome;
}

async function purgeOne(queues: DeadLetterQueues, id: string): Promise<PurgeOutcome> {
  if (!(await deadLetterExists(queues, id))) return 'not-found';
  // The original first: interrupted in between, the dead letter is still there to purge again.
  const original = await queues.taskUpdates.getJob(id);
  if (original && (await original.getState()) === 'failed') await original.remove();
  await queues.deadLetters.remove(id);
  return 'purged';
}

function prefixOf(queue: Queue): string {
  return queue.opts.prefix ?? 'bull';
}
