import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach } from '@jest/globals';
import { createGhlClient, type CredentialsProvider, type GhlClient } from '@closeloop/ghl';
import { startSandbox, type RunningSandbox, type StartSandboxOptions } from '@closeloop/ghl-sandbox';
import {
  DEAD_LETTER_QUEUE,
  createRedisConnection,
  createTaskUpdateProducer,
  enqueueTaskUpdate,
  type DeadLetter,
  type DeadLetterQueues,
  type TaskEvent,
  type TaskUpdateProducer,
} from '@closeloop/queue';
import { testRedisUrl, uniquePrefix, waitFor } from '@closeloop/test-support';
import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { loadConfig, type WorkerConfig } from '../src/config.js';
import { createWorkerCredentials } from '../src/credentials.js';
import { createLogger, type Logger } from '../src/logger.js';
import type { TaskWorkerObserver } from '../src/task-worker-observer.js';
import { createTaskWorker, type TaskUpdateResult, type TaskWorker } from '../src/task-worker.js';

export const LOC_A = 'locA0000000000000001';
export const LOC_B = 'locB0000000000000002';
export const TOKEN_A = 'pit-token-a-secret';
export const TOKEN_B = 'pit-token-b-secret';
export const CONTACT_A = 'contactA000000000001';
export const CONTACT_B = 'contactB000000000002';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A worker started as its own process; its stdout and stderr are collected. */
export interface SpawnedWorker {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Its JSON log lines so far. */
  readonly logLines: () => LogLine[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node --import tsx apps/worker/src/main.ts`, as `pnpm start:worker` runs it, with only the given env. */
export function spawnWorkerProcess(env: Record<string, string>): SpawnedWorker {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const logLines = (): LogLine[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  return { child, output: () => output, logLines, exited };
}

/** Resolves with the process's "worker started" line (it carries `metricsUrl`) once it is logged. */
export async function waitForWorkerStarted(worker: SpawnedWorker): Promise<LogLine> {
  return waitFor(() => worker.logLines().find((line) => line.msg === 'worker started'), {
    timeoutMs: 15_000,
    description: `the worker process to start; output so far:\n${worker.output()}`,
  });
}

/** A fresh id per task, so no state leaks between tests. */
export function newTaskId(label = 'task'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

export function eventFor(
  taskId: string,
  overrides: Partial<TaskEvent> & { location?: 'A' | 'B' } = {},
): TaskEvent {
  const { location = 'A', ...rest } = overrides;
  return {
    type: 'ticket.closed',
    occurredAt: new Date().toISOString(),
    ticket: { id: `ZD-${taskId}` },
    ghl: {
      locationId: location === 'A' ? LOC_A : LOC_B,
      contactId: location === 'A' ? CONTACT_A : CONTACT_B,
      taskId,
    },
    ...rest,
  };
}

/** Env for `loadConfig`, as a deployment would set it; tests override single variables. */
export function workerEnv(
  sandboxUrl: string,
  prefix: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    GHL_BASE_URL: sandboxUrl,
    GHL_LOCATION_ID: LOC_A,
    GHL_LOCATION_TOKENS: `${LOC_A}=${TOKEN_A} ${LOC_B}=${TOKEN_B}`,
    WORKER_CONCURRENCY: '10',
    RETRY_ATTEMPTS: '8',
    RETRY_BASE_MS: '20',
    RETRY_CAP_MS: '100',
    GHL_TIMEOUT_MS: '2000',
    // Short, so a retry after a timeout or reset is not held for the production 2 min (docs/ordering.md).
    AMBIGUOUS_HOLD_MS: '200',
    LOCK_DURATION_MS: '2000',
    STALLED_INTERVAL_MS: '1000',
    RATE_LIMIT_PER_INTERVAL: '1000',
    RATE_LIMIT_INTERVAL_MS: '1000',
    LOG_LEVEL: 'debug',
    // A free port each: the default 9464 would clash between test files and with pnpm dev.
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    ...overrides,
  };
}

export function configFrom(env: Record<string, string>): WorkerConfig {
  const result = loadConfig(env);
  if (!result.ok) throw new Error(`test config invalid: ${result.problems.join('; ')}`);
  return result.config;
}

export interface HarnessOptions {
  sandbox?: StartSandboxOptions;
  env?: Record<string, string>;
  /** Default true. */
  startWorker?: boolean;
  tasks?: Array<{ id: string; location?: 'A' | 'B'; completed?: boolean }>;
}

/**
 * One test's world: its own sandbox (seeded with two locations), its own queue prefix, the producer
 * the receiver uses, QueueEvents, and optionally the task worker under test with captured logs.
 */
export class Harness {
  readonly logs: LogLine[] = [];
  readonly logger: Logger;
  taskWorker: TaskWorker | undefined;
  #clients: GhlClient[] = [];
  #connections: (Redis | Cluster)[] = [];

  private constructor(
    readonly sandbox: RunningSandbox,
    readonly prefix: string,
    readonly config: WorkerConfig,
    readonly producer: TaskUpdateProducer,
    readonly queueEvents: QueueEvents,
    readonly deadLetterQueue: Queue<DeadLetter>,
  ) {
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        for (const line of chunk.toString().split('\n')) {
          if (line.trim() !== '') this.logs.push(JSON.parse(line) as LogLine);
        }
        callback();
      },
    });
    this.logger = createLogger(config.logLevel, sink);
  }

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const sandbox = await startSandbox({ burstLimit: 10_000, ...options.sandbox });
    await sandbox.control.seed({
      locations: [
        { id: LOC_A, tokens: [TOKEN_A] },
        { id: LOC_B, tokens: [TOKEN_B] },
      ],
      contacts: [
        { id: CONTACT_A, locationId: LOC_A, email: 'a@example.com' },
        { id: CONTACT_B, locationId: LOC_B, email: 'b@example.com' },
      ],
      tasks: (options.tasks ?? []).map((task) => ({
        id: task.id,
        contactId: task.location === 'B' ? CONTACT_B : CONTACT_A,
        title: `Task ${task.id}`,
        completed: task.completed ?? false,
      })),
    });
    const prefix = uniquePrefix('worker');
    const config = configFrom(workerEnv(sandbox.url, prefix, options.env));
    const producer = await createTaskUpdateProducer({ redisUrl: testRedisUrl(), prefix });
    const eventsConnection = createRedisConnection(testRedisUrl(), 'worker');
    const queueEvents = new QueueEvents(producer.queue.name, { connection: eventsConnection, prefix });
    await queueEvents.waitUntilReady();
    const deadLetterQueue = new Queue<DeadLetter>(DEAD_LETTER_QUEUE, { connection: producer.redis, prefix });
    const harness = new Harness(sandbox, prefix, config, producer, queueEvents, deadLetterQueue);
    harness.#connections.push(eventsConnection);
    if (options.startWorker !== false) harness.startWorker();
    return harness;
  }

  /** A worker-role connection closed by `close()`. */
  connection(): Redis | Cluster {
    const connection = createRedisConnection(testRedisUrl(), 'worker');
    this.#connections.push(connection);
    return connection;
  }

  /**
   * The client main.ts builds: env tokens, then the credential store when CREDENTIALS_KEY is set
   * (apps/worker/src/credentials.ts); `credentials` replaces that provider.
   */
  ghlClient(config: WorkerConfig = this.config, credentials?: CredentialsProvider): GhlClient {
    const client = createGhlClient({
      baseUrl: config.ghl.baseUrl,
      apiVersion: config.ghl.apiVersion,
      credentials:
        credentials ??
        createWorkerCredentials({ config, redis: this.connection(), logger: this.logger }).provider,
      timeoutMs: config.ghl.timeoutMs,
    });
    this.#clients.push(client);
    return client;
  }

  startWorker(
    config: WorkerConfig = this.config,
    observer?: TaskWorkerObserver,
    credentials?: CredentialsProvider,
  ): TaskWorker {
    this.taskWorker = createTaskWorker({
      config,
      ghl: this.ghlClient(config, credentials),
      logger: this.logger,
      connection: this.connection(),
      ...(observer && { observer }),
    });
    return this.taskWorker;
  }

  get queue(): Queue<unknown, TaskUpdateResult> {
    return this.producer.queue;
  }

  /** Both queues on the producer's connection, as `replayDeadLetters` and friends take them. */
  get deadLetterQueues(): DeadLetterQueues {
    return {
      deadLetters: this.deadLetterQueue,
      taskUpdates: this.producer.queue,
      redis: this.producer.redis,
    };
  }

  async enqueue(event: TaskEvent, idempotencyKey = randomUUID()): Promise<Job<unknown, TaskUpdateResult>> {
    const { jobId } = await enqueueTaskUpdate(this.producer, { source: 'events', idempotencyKey, event });
    const job = await this.queue.getJob(jobId);
    if (!job) throw new Error(`job ${jobId} vanished right after enqueue`);
    return job;
  }

  /** Resolves with the job's return value, or rejects with its failedReason. */
  finished(job: Job<unknown, TaskUpdateResult>, ttlMs = 20_000): Promise<TaskUpdateResult> {
    return job.waitUntilFinished(this.queueEvents, ttlMs);
  }

  /** Waits for a job that is expected to fail, returning its failedReason. */
  async failed(job: Job<unknown, TaskUpdateResult>, ttlMs = 20_000): Promise<string> {
    try {
      await this.finished(job, ttlMs);
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
    throw new Error(`job ${job.id} completed, but it was expected to fail`);
  }

  async reload(job: Job<unknown, TaskUpdateResult>): Promise<Job<unknown, TaskUpdateResult>> {
    const fresh = await this.queue.getJob(job.id ?? '');
    if (!fresh) throw new Error(`job ${job.id} is gone`);
    return fresh;
  }

  async deadLetter(jobId: string): Promise<Job<DeadLetter> | undefined> {
    return this.deadLetterQueue.getJob(jobId);
  }

  async deadLetterCount(): Promise<number> {
    return this.deadLetterQueue.count();
  }

  logsAt(level: number): LogLine[] {
    return this.logs.filter((line) => line.level === level);
  }

  async close(): Promise<void> {
    await this.taskWorker?.close(5_000);
    await this.queueEvents.close();
    await this.deadLetterQueue.close();
    // Queues, dead letters, rate budgets, ordering markers: everything this test wrote.
    const keys = await this.producer.redis.keys(`${this.prefix}:*`);
    if (keys.length > 0) await this.producer.redis.del(...keys);
    await this.producer.close();
    await Promise.all(this.#clients.map((client) => client.close()));
    for (const connection of this.#connections) await connection.quit();
    await this.sandbox.close();
  }
}

export interface Cleanup {
  /** `Harness.start(options)`, closed after the test. */
  readonly harness: (options?: HarnessOptions) => Promise<Harness>;
  /** `spawnWorkerProcess(env)`, signalled after the test (if still running) and awaited. */
  readonly spawn: (env: Record<string, string>) => SpawnedWorker;
}

/**
 * Harnesses and worker processes that a test file's tests open, cleaned in `afterEach`: processes
 * first (sent `processSignal`, SIGTERM by default), so none still works on a harness being closed.
 * Call it once at the top of the file.
 */
export function useCleanup({ processSignal = 'SIGTERM' }: { processSignal?: NodeJS.Signals } = {}): Cleanup {
  const processes: SpawnedWorker[] = [];
  const opened: Harness[] = [];
  afterEach(async () => {
    for (const worker of processes.splice(0)) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill(processSignal);
        await worker.exited;
      }
    }
    for (const h of opened.splice(0)) await h.close();
  });
  return {
    harness: async (options = {}) => {
      const h = await Harness.start(options);
      opened.push(h);
      return h;
    },
    spawn: (env) => {
      const worker = spawnWorkerProcess(env);
      processes.push(worker);
      return worker;
    },
  };
}

export const PUT_BODY_COMPLETED = { completed: true };
