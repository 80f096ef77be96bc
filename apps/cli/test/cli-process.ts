import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach } from '@jest/globals';
import { join, resolve } from 'node:path';
import {
  DEAD_LETTER_JOB_NAME,
  TASK_UPDATE_JOB_NAME,
  TASK_UPDATE_JOB_OPTIONS,
  exampleTaskUpdateJob,
  openDeadLetterAdmin,
  type DeadLetter,
  type DeadLetterAdmin,
  type DeadLetterReason,
} from '@closeloop/queue';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';

export const ROOT = resolve(import.meta.dirname, '..', '..', '..');
export const BIN = join(ROOT, 'apps', 'cli', 'bin', 'closeloop.js');

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

/** The environment of a command run: the test Redis and the test's own prefix, nothing inherited from jest. */
export function cliEnv(prefix: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: prefix,
    ...extra,
  };
}

export interface StartedCli {
  readonly child: ChildProcess;
  /** Resolves with the first stdout line that matches. */
  waitForLine(predicate: (line: string) => boolean): Promise<string>;
  readonly exited: Promise<CliRun>;
}

/** Starts `node apps/cli/bin/closeloop.js …` as its own process, as an operator's shell would. */
export function startCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: {
    command?: string;
    commandArgs?: readonly string[];
    /** Written to the command's stdin, which is then closed; without it stdin is empty. */
    input?: string;
  } = {},
): StartedCli {
  const started = Date.now();
  const child = spawn(options.command ?? process.execPath, [...(options.commandArgs ?? [BIN]), ...args], {
    cwd: ROOT,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // Closed at once: without input the command reads an empty stdin, as from /dev/null.
  // A command that exits without reading it must not fail the test with EPIPE.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ predicate: (line: string) => boolean; resolve: (line: string) => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of [...waiters]) {
      const line = stdout.split('\n').slice(0, -1).find(waiter.predicate);
      if (line !== undefined) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<CliRun>((resolveRun, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolveRun({ code, signal, stdout, stderr, ms: Date.now() - started }),
    );
  });
  return {
    child,
    exited,
    waitForLine: (predicate) =>
      new Promise<string>((resolveLine, reject) => {
        const line = stdout.split('\n').slice(0, -1).find(predicate);
        if (line !== undefined) return resolveLine(line);
        waiters.push({ predicate, resolve: resolveLine });
        exited.then(
          (run) =>
            reject(
              new Error(`the command exited (${run.code}) before the line came: ${run.stdout}${run.stderr}`),
            ),
          reject,
        );
      }),
  };
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return startCli(args, env).exited;
}

export function parseJson<T>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
}

/** A test's own queues: the library's admin on a fresh prefix, emptied and closed by `close`. */
export async function openTestQueues(): Promise<{
  admin: DeadLetterAdmin;
  prefix: string;
  close(): Promise<void>;
}> {
  const prefix = uniquePrefix('cli');
  const admin = await openDeadLetterAdmin({ redisUrl: testRedisUrl(), prefix });
  return {
    admin,
    prefix,
    close: async () => {
      await admin.deadLetters.obliterate({ force: true });
      await admin.taskUpdates.obliterate({ force: true });
      await admin.close();
    },
  };
}

/**
 * For a test file whose tests each open their own queues: `queues()` opens them with the command's
 * environment for that prefix, and every queue opened in a test is emptied and closed after it.
 */
export function useTestQueues(): () => Promise<{
  admin: DeadLetterAdmin;
  env: NodeJS.ProcessEnv;
  prefix: string;
}> {
  const opened: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of opened.splice(0)) await close();
  });
  return async () => {
    const queues = await openTestQueues();
    opened.push(() => queues.close());
    return { admin: queues.admin, prefix: queues.prefix, env: cliEnv(queues.prefix) };
  };
}

export const taskJob = exampleTaskUpdateJob;

export interface SeedLetter {
  id: string;
  reason: DeadLetterReason;
  locationId?: string;
  deadAt: string;
  /** Also leave the original job in the failed set of task-updates, as the worker does. */
  failedOriginal?: boolean;
}

/** A dead letter as the worker writes it (and, optionally, its original job failed in task-updates). */
export async function seedDeadLetter(
  admin: DeadLetterAdmin,
  prefix: string,
  seed: SeedLetter,
): Promise<DeadLetter> {
  const job = taskJob(seed.id, seed.locationId);
  const letter: DeadLetter = {
    job,
    reason: seed.reason,
    ...(seed.reason === 'GHL_UNPROCESSABLE' && {
      http: { status: 422, body: { statusCode: 422, message: ['title should not be empty'] } },
    }),
    attempts: 1,
    firstAttemptAt: seed.deadAt,
    deadAt: seed.deadAt,
    // Longer than the list's LAST ERROR column, as GHL's messages often are.
    lastError: `GHL PUT /contacts/sx6wyHhbFdRXh302LLNR/tasks/${seed.id}/completed answered ${seed.reason === 'GHL_UNPROCESSABLE' ? 422 : 404}`,
  };
  if (seed.failedOriginal) {
    await admin.taskUpdates.add(TASK_UPDATE_JOB_NAME, job, { ...TASK_UPDATE_JOB_OPTIONS, jobId: seed.id });
    // A worker's own connection: BullMQ wants `maxRetriesPerRequest: null` for workers.
    const connection = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    const worker = new Worker(admin.taskUpdates.name, null, { connection, prefix, autorun: false });
    try {
      const taken = await worker.getNextJob('seed');
      if (taken?.id !== seed.id) throw new Error(`expected to take ${seed.id}, took ${taken?.id}`);
      await taken.moveToFailed(new UnrecoverableError(`${seed.reason}: seeded`), 'seed', false);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  }
  await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter, { jobId: seed.id });
  return letter;
}
