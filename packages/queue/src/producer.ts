import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { createRedisConnection } from './connection.js';
import { DEDUPE_TTL_SECONDS, TASK_UPDATE_JOB_OPTIONS } from './job-options.js';
import { DEFAULT_QUEUE_PREFIX, TASK_UPDATE_JOB_NAME, TASK_UPDATES_QUEUE } from './names.js';
import { type TaskEvent } from './task-event.js';
import { dedupeKeyFor, jobKeyFor } from './task-update-keys.js';
import { TaskUpdateJob, jobIdFor } from './task-update-job.js';

export interface TaskUpdateProducerOptions {
  redisUrl: string;
  prefix?: string;
}

/** The producer side of `task-updates`: one per process (a Queue per request leaks connections). */
export interface TaskUpdateProducer {
  readonly queue: Queue<TaskUpdateJob>;
  readonly redis: Redis | Cluster;
  readonly prefix: string;
  close(): Promise<void>;
}

/**
 * Connects to Redis and resolves once it answers (and BullMQ has read the server's version). For
 * tests and internal producers that have nothing to do before Redis is there; afterwards, while
 * Redis is away, enqueue rejects at once and works again as soon as ioredis has reconnected.
 */
export async function createTaskUpdateProducer(
  options: TaskUpdateProducerOptions,
): Promise<TaskUpdateProducer> {
  const producer = openTaskUpdateProducer(options);
  try {
    await producer.queue.waitUntilReady();
  } catch (error) {
    await producer.close();
    throw error;
  }
  return producer;
}

/**
 * The same producer, returned at once, whether Redis answers yet or not (the receiver listens
 * before Redis is up: /healthz is "process up", /readyz "Redis reachable").
 *
 * The Queue is built right away on the not yet connected, fail-fast connection. That is safe with
 * BullMQ 6.7: a Queue's RedisConnection.init() (bullmq dist/cjs/classes/redis-connection.js) first
 * awaits `RedisConnection.waitUntilReady(client)`, which for a connecting or reconnecting ioredis
 * client waits for its 'ready' event, and only then sends the INFO version check; so the
 * `enableOfflineQueue: false` of the producer connection never sees that INFO while disconnected.
 * Until Redis first answers, `enqueueTaskUpdate` rejects at once: its first command (EXISTS)
 * fails with ioredis' "Stream isn't writeable" like during any later outage, before anything
 * that awaits the queue's initialisation. Queue methods called directly (`getJob`,
 * `exportPrometheusMetrics`) wait for Redis instead: bound them with a deadline.
 * `close()` works in every state: before Redis ever answered, during an outage, normally.
 * producer.test.ts opens one before Redis starts and enqueues once it has: a BullMQ upgrade that
 * changes this fails there.
 */
export function openTaskUpdateProducer(options: TaskUpdateProducerOptions): TaskUpdateProducer {
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const redis = createRedisConnection(options.redisUrl, 'producer');
  // Without a listener ioredis prints every reconnect failure as an unhandled error event.
  redis.on('error', () => undefined);
  const queue = new Queue<TaskUpdateJob>(TASK_UPDATES_QUEUE, { connection: redis, prefix });
  queue.on('error', () => undefined);
  return {
    queue,
    redis,
    prefix,
    close: async () => {
      await queue.close();
      redis.disconnect();
    },
  };
}

let lastReceivedMs = 0;

/**
 * Now, but strictly later than the previous event this process received: the ordering guard breaks
 * ties between events of the same second by receive time (apps/worker task-order-guard.ts), so two
 * events received in one millisecond must still get distinct, ordered times. Drifts ahead of the
 * clock only by the number of events received within one millisecond.
 */
function nextReceiveTime(): Date {
  lastReceivedMs = Math.max(Date.now(), lastReceivedMs + 1);
  return new Date(lastReceivedMs);
}

export interface EnqueueTaskUpdateInput {
  /** `events` for the signed webhook, `internal` for POST /v1/task-updates, or a producer's own name. */
  source: string;
  idempotencyKey: string;
  event: TaskEvent;
  receivedAt?: Date;
  /** The source's ticket pattern, for an event the worker must find the task of (docs/matching.md). */
  match?: { ticketPattern: string } | undefined;
}

export interface EnqueueResult {
  jobId: string;
  /** True when this source + idempotency key was seen within 72 h, or its job still exists: nothing was changed. */
  duplicate: boolean;
}

/**
 * Stores a task update durably, at most once per (source, idempotency key): a key is a duplicate
 * within 72 h of its first delivery, and for as long as its job is kept (completed: a day, failed:
 * 30 days). Every answer `duplicate: false` means the event sent is now a job in Redis.
 *
 * Order matters so that nothing accepted is ever lost: the dedupe record is written only after
 * the job is in Redis. If Redis fails in between, the caller answers 503, the sender retries, the
 * add is a no-op (same job id) and the record is written then. A job that completed and was
 * removed is still recognised by its record, so a late redelivery never runs it twice.
 * Throws a ZodError for data that does not match the job schema, and Redis errors as they come.
 */
export async function enqueueTaskUpdate(
  producer: TaskUpdateProducer,
  input: EnqueueTaskUpdateInput,
): Promise<EnqueueResult> {
  const data = TaskUpdateJob.parse({
    v: 1,
    source: input.source,
    idempotencyKey: input.idempotencyKey,
    event: input.event,
    receivedAt: (input.receivedAt ?? nextReceiveTime()).toISOString(),
    ...(input.match && { match: input.match }),
  });
  const jobId = jobIdFor(data.source, data.idempotencyKey);
  const dedupeKey = dedupeKeyFor(producer.prefix, jobId);

  // The job itself counts too: a failed job outlives its dedupe record (30 days vs 72 h), and `add`
  // under an existing id is a no-op (docs/bullmq.md, "Idempotency"), so without this check a reused
  // key would answer "new" while its event was dropped. One round trip either way.
  const existing = await producer.redis.exists(
    dedupeKey,
    jobKeyFor(producer.prefix, TASK_UPDATES_QUEUE, jobId),
  );
  if (existing > 0) return { jobId, duplicate: true };
  await producer.queue.add(TASK_UPDATE_JOB_NAME, data, { ...TASK_UPDATE_JOB_OPTIONS, jobId });
  const firstRecord = await producer.redis.set(dedupeKey, data.receivedAt, 'EX', DEDUPE_TTL_SECONDS, 'NX');
  // A concurrent delivery of the same key may have won the race between our check and our set:
  // its add and ours were the same job (same id), and it reports the job as new.
  return { jobId, duplicate: firstRecord === null };
}
