import type { DeadLetterAdmin, TaskUpdateProducer } from '@closeloop/queue';
import { CliError, EXIT } from './errors.js';
import type { QueueSettings } from './env.js';

/**
 * How long the command waits for Redis before it says so and exits 3. An operator at a terminal
 * (or a script) must get an answer, never a hang; a healthy Redis answers in milliseconds.
 */
export const CONNECT_DEADLINE_MS = 5_000;

/** Both queues on one connection that gives up quickly (`openDeadLetterAdmin`), within the deadline. */
export async function connectAdmin(settings: QueueSettings): Promise<DeadLetterAdmin> {
  const { openDeadLetterAdmin } = await loadQueueLibrary();
  const opening = openDeadLetterAdmin({ redisUrl: settings.redisUrl, prefix: settings.prefix });
  try {
    const admin = await withinDeadline(opening, CONNECT_DEADLINE_MS);
    if (admin) return admin;
  } catch (error) {
    throw redisUnreachable(settings, error);
  }
  // Past the deadline: close whatever it opens once it is done, and answer now.
  opening.then((late) => late.close()).catch(() => undefined);
  throw redisUnreachable(settings);
}

/**
 * The same producer as the receiver's (fail-fast connection: `enqueueTaskUpdate` rejects instead of
 * queueing commands while Redis is away), once Redis has answered, within the deadline.
 */
export async function connectProducer(settings: QueueSettings): Promise<TaskUpdateProducer> {
  const { openTaskUpdateProducer } = await loadQueueLibrary();
  const producer = openTaskUpdateProducer({ redisUrl: settings.redisUrl, prefix: settings.prefix });
  let ready: boolean;
  try {
    ready =
      (await withinDeadline(
        producer.queue.waitUntilReady().then(() => true),
        CONNECT_DEADLINE_MS,
      )) === true;
  } catch (error) {
    await producer.close();
    throw redisUnreachable(settings, error);
  }
  if (ready) return producer;
  // The producer connection reconnects forever (the receiver's policy): stop it here.
  await producer.close();
  throw redisUnreachable(settings);
}

/**
 * `@closeloop/queue` with bullmq and ioredis, loaded only when a command talks to Redis: importing
 * them through tsx is most of a start (apps/cli/README.md, "Start-up time"), and `--help` and usage
 * errors must not pay for it.
 */
export function loadQueueLibrary(): Promise<typeof import('@closeloop/queue')> {
  return import('@closeloop/queue');
}

/** Resolves to the value, or to undefined when `ms` passed first. */
export async function withinDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * ioredis's and BullMQ's ways of saying the connection is gone (connection refused, reset, closed by
 * the retry strategy giving up, a command sent while disconnected, a command timeout).
 */
const CONNECTION_FAILURE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|EPIPE|Connection is closed|Stream isn't writeable|max retries per request|Command timed out|connect ETIMEDOUT/i;

export function isConnectionFailure(error: unknown): boolean {
  return error instanceof Error && CONNECTION_FAILURE.test(`${error.name} ${error.message}`);
}

export function redisUnreachable(settings: QueueSettings, cause?: unknown): CliError {
  const detail =
    cause instanceof Error && cause.message
      ? ` (${withoutPassword(cause.message, settings)})`
      : ` (no answer within ${CONNECT_DEADLINE_MS / 1_000} s)`;
  return new CliError(
    `Redis at ${settings.redactedRedisUrl} is unreachable${detail}; check REDIS_URL and that Redis is running`,
    EXIT.redisUnreachable,
  );
}

/** Redis error messages do not quote the URL, but the command must never print a password: make sure. */
function withoutPassword(message: string, settings: QueueSettings): string {
  let password: string;
  try {
    password = decodeURIComponent(new URL(settings.redisUrl).password);
  } catch {
    return message;
  }
  return password ? message.split(password).join('***') : message;
}
