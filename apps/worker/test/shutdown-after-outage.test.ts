import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { createTaskUpdateProducer, enqueueTaskUpdate } from '@closeloop/queue';
import { startRedisServer, uniquePrefix, waitFor, type LocalRedis } from '@closeloop/test-support';
import {
  CONTACT_A,
  LOC_A,
  TOKEN_A,
  eventFor,
  newTaskId,
  spawnWorkerProcess,
  waitForWorkerStarted,
  workerEnv,
} from './harness.js';

/**
 * Short, so a shutdown that hangs is seen as one: past it (plus main.ts's 5 s margin) the process
 * exits 1 with "shutdown timed out". A drain with nothing in flight needs a fraction of it.
 */
const SHUTDOWN_TIMEOUT_MS = 4_000;
/** How long a clean drain may take after SIGTERM: well under SHUTDOWN_TIMEOUT_MS. */
const DRAIN_BOUND_MS = 3_000;

interface WorkerProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly exited: Promise<number | null>;
  output(): string;
}

interface LogLine {
  msg: string;
  [key: string]: unknown;
}

function logLines(worker: WorkerProcess): LogLine[] {
  return worker
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

const processes: WorkerProcess[] = [];

/** The worker as a process (harness.ts); resolves once it is ready. */
async function startWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const spawned = spawnWorkerProcess(env);
  const partial = {
    child: spawned.child,
    exited: spawned.exited.then(({ code }) => code),
    output: spawned.output,
    baseUrl: '',
  };
  processes.push(partial);
  const started = await waitForWorkerStarted(spawned);
  const worker = { ...partial, baseUrl: String(started.metricsUrl).replace(/\/metrics$/, '') };
  processes[processes.indexOf(partial)] = worker;
  await untilReady(worker);
  return worker;
}

async function untilReady(worker: WorkerProcess): Promise<void> {
  await waitFor(async () => (await fetch(`${worker.baseUrl}/readyz`)).status === 200, {
    description: '/readyz to be 200',
  });
}

/** SIGTERM, then the exit code, or 'still running' when the process has not exited within `boundMs`. */
async function terminate(
  worker: WorkerProcess,
  boundMs = DRAIN_BOUND_MS,
): Promise<number | null | 'still running'> {
  worker.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'still running'>((resolve) => {
    timer = setTimeout(() => resolve('still running'), boundMs);
  });
  try {
    return await Promise.race([worker.exited, bound]);
  } finally {
    clearTimeout(timer);
  }
}

function expectCleanDrain(worker: WorkerProcess): void {
  const lines = logLines(worker);
  expect(lines.find((line) => line.msg === 'worker stopped')).toMatchObject({ clean: true });
  expect(lines.map((line) => line.msg)).not.toContain('shutdown timed out');
}

/** Waits on the worker's own reports of failed reconnects: the outage has lasted that many retries. */
async function untilReconnectsFailed(worker: WorkerProcess, count: number): Promise<void> {
  await waitFor(
    () => logLines(worker).filter((line) => line.msg === 'redis connection error').length >= count,
    {
      timeoutMs: 20_000,
      description: `${count} failed reconnects in the worker's log`,
    },
  );
}

describe('the worker process drains on SIGTERM after a Redis outage', () => {
  let redis: LocalRedis;
  let sandbox: RunningSandbox;
  const env = (prefix = uniquePrefix('outage')): Record<string, string> =>
    workerEnv(sandbox.url, prefix, {
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    });

  const seedTask = (taskId: string): Promise<unknown> =>
    sandbox.control.seed({
      locations: [{ id: LOC_A, tokens: [TOKEN_A] }],
      contacts: [{ id: CONTACT_A, locationId: LOC_A, email: 'a@example.com' }],
      tasks: [{ id: taskId, contactId: CONTACT_A, title: `Task ${taskId}`, completed: false }],
    });
  /** As the receiver does: one event for the task, on a producer connection of its own. */
  const enqueue = async (prefix: string, taskId: string): Promise<void> => {
    const producer = await createTaskUpdateProducer({ redisUrl: redis.url, prefix });
    try {
      await enqueueTaskUpdate(producer, {
        source: 'events',
        idempotencyKey: taskId,
        event: eventFor(taskId),
      });
    } finally {
      await producer.close();
    }
  };

  beforeAll(async () => {
    redis = await startRedisServer();
    sandbox = await startSandbox();
  });
  afterEach(async () => {
    for (const worker of processes.splice(0)) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGKILL');
        await worker.exited;
      }
    }
    await redis.restart();
  });
  afterAll(async () => {
    await sandbox.close();
    await redis.dispose();
  });

  it('When Redis was stopped and restarted and /readyz is 200 again, then SIGTERM drains the idle worker: exit 0, "worker stopped" clean', async () => {
    const worker = await startWorker(env());

    await redis.stop();
    await redis.restart();
    await untilReady(worker);

    expect(await terminate(worker)).toBe(0);
    expectCleanDrain(worker);
  });

  it('When Redis was away for several seconds (the worker blocked in BZPOPMIN when it went), then SIGTERM after /readyz is 200 again drains: exit 0, clean', async () => {
    const worker = await startWorker(env());

    await redis.stop();
    // Five failed retries: about 3 s, and the blocking connection's next retry is a second away.
    await untilReconnectsFailed(worker, 5);
    await redis.restart();
    await untilReady(worker);

    expect(await terminate(worker)).toBe(0);
    expectCleanDrain(worker);
  });

  it('When SIGTERM arrives while Redis is down and nothing is in flight, then the worker exits 0 at once, clean, without waiting for Redis', async () => {
    const worker = await startWorker(env());

    await redis.stop();
    await untilReconnectsFailed(worker, 1);

    expect(await terminate(worker)).toBe(0);
    expectCleanDrain(worker);
  });

  it('When SIGTERM arrives while Redis is down and a GHL call is in flight, then after SHUTDOWN_TIMEOUT_MS the call is cut off and the worker exits 0, not clean', async () => {
    const prefix = uniquePrefix('outage-inflight');
    const taskId = newTaskId('in-flight');
    await seedTask(taskId);
    // Holds the call in GHL past the shutdown timeout.
    await sandbox.control.injectFault({ latencyMs: SHUTDOWN_TIMEOUT_MS + 5_000, taskId, count: 1 });
    const worker = await startWorker({ ...env(prefix), GHL_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS + 8_000) });
    await enqueue(prefix, taskId);
    await waitFor(async () => (await sandbox.control.calls({ path: taskId })).length === 1, {
      description: 'the call to reach GHL',
    });
    await redis.stop();

    expect(await terminate(worker, SHUTDOWN_TIMEOUT_MS + DRAIN_BOUND_MS)).toBe(0);
    const lines = logLines(worker);
    expect(lines.map((line) => line.msg)).toContain(
      'shutdown: Redis still unreachable; interrupting the jobs in flight',
    );
    expect(lines.find((line) => line.msg === 'worker stopped')).toMatchObject({ clean: false });
    expect(lines.map((line) => line.msg)).not.toContain('shutdown timed out');
  });

  it('When a job is added after the restart, then the worker completes it, and SIGTERM drains: exit 0, clean', async () => {
    const prefix = uniquePrefix('outage-job');
    const worker = await startWorker(env(prefix));
    await redis.stop();
    await untilReconnectsFailed(worker, 2);
    await redis.restart();
    await untilReady(worker);

    const taskId = newTaskId('after-outage');
    await seedTask(taskId);
    await enqueue(prefix, taskId);
    await waitFor(async () => (await sandbox.control.getTask(taskId))?.completed === true, {
      description: 'the task to be completed in the sandbox',
    });

    expect(await terminate(worker)).toBe(0);
    expectCleanDrain(worker);
    expect(logLines(worker).filter((line) => line.msg === 'task updated')).toHaveLength(1);
  });
});
