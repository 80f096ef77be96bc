import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { DEAD_LETTER_QUEUE, TASK_UPDATES_QUEUE, createRedisConnection } from '@closeloop/queue';
import { Queue } from 'bullmq';
import basicAuth from 'express-basic-auth';
import express, { type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { formatErrorBody } from './errors.js';

export const ADMIN_BASE_PATH = '/admin/queues';

export interface AdminBoard {
  /** Basic auth, then Bull Board; mount at ADMIN_BASE_PATH. */
  readonly router: RequestHandler;
  close(): Promise<void>;
}

/**
 * The dead-letter queue's board adapter: it answers "no workers" with null ("unknown"), not an
 * empty list. Nothing consumes `task-updates-dead` by design, and Bull Board 9.10.1 badges a
 * queue "no workers" exactly when `hasWorkers === false` and it is not paused (the
 * workers badge in ui/dist/static/js: `if (false !== queue.hasWorkers || queue.isPaused) return null`); `getHasWorkers`
 * (api/dist/handlers/queues.js) reports null when the adapter's `getWorkers()` does, which is what
 * BaseAdapter does for "adapters that have no notion of workers". The UI then shows no warning and
 * the workers panel leaves the section out (handlers/queueWorkers.js). `task-updates` keeps the
 * real answer: no worker there is worth a warning.
 */
export class DeadLetterBoardAdapter extends BullMQAdapter {
  override getWorkers(): Promise<null> {
    return Promise.resolve(null);
  }
}

/**
 * Shown on the dead-letter queue's page: what it is, and how an operator replays what GHL refused
 * (the `closeloop dead` commands, apps/cli).
 */
export const DEAD_LETTER_DESCRIPTION =
  'Task updates GHL refused for good, or that ran out of retries: reason, GHL status and body in each entry; ' +
  'the original job is in task-updates → Failed under the same id. No worker reads this queue, by design. ' +
  'To replay once the cause is fixed: pnpm closeloop dead replay <id…> (or --reason <REASON>, or --all).';

/**
 * Bull Board for `task-updates` and `task-updates-dead`, behind basic auth ("treat dashboard
 * access as Redis access", bull-board production checklist).
 *
 * Its queues have their own connection with ioredis' usual options, not the producer's fail-fast
 * one: a page load during a short Redis hiccup waits for the reconnect instead of failing, and the
 * board's slow listing commands never share a socket with the hot path.
 */
export function createAdminBoard(options: {
  redisUrl: string;
  prefix: string;
  user: string;
  password: string;
  logger: Logger;
  /** Called for every request refused for want of the right credentials (for the rejected counter). */
  onUnauthorized?: () => void;
}): AdminBoard {
  // ioredis' default retries (also on Redis Cluster, which a plain `new Redis` would not reach).
  const redis = createRedisConnection(options.redisUrl, 'worker', {
    maxRetriesPerRequest: 20,
    retryStrategy: (times) => Math.min(times * 50, 2_000),
  });
  redis.on('error', (error) => options.logger.debug({ err: error }, 'board redis error'));
  const queues = [TASK_UPDATES_QUEUE, DEAD_LETTER_QUEUE].map((name) => {
    const queue = new Queue(name, { connection: redis, prefix: options.prefix });
    queue.on('error', (error) => options.logger.debug({ err: error }, 'board queue error'));
    return queue;
  });
  const [tasks, dead] = queues as [Queue, Queue];

  const serverAdapter = new ExpressAdapter().setBasePath(ADMIN_BASE_PATH);
  const adapters = [
    new BullMQAdapter(tasks, {
      description: 'One job per task update (ticket closed → task completed, reopened → reopened).',
    }),
    // A retry button here would only move the entry back to "waiting" of a queue no worker reads.
    new DeadLetterBoardAdapter(dead, { description: DEAD_LETTER_DESCRIPTION, allowRetries: false }),
  ];
  for (const adapter of adapters) adapter.setFormatter('data', redactSecrets);
  createBullBoard({
    queues: adapters,
    serverAdapter,
    options: { uiConfig: { boardTitle: 'closeloop' } },
  });

  const requireAdmin = basicAuth({
    users: { [options.user]: options.password },
    challenge: true,
    realm: 'closeloop',
    // express-basic-auth answers the 401 itself, before any error handler: count it here.
    unauthorizedResponse: () => {
      options.onUnauthorized?.();
      return formatErrorBody('UNAUTHORIZED', 'Bull Board needs the admin user and password');
    },
  });
  const router = express.Router();
  router.use(requireAdmin, serverAdapter.getRouter() as RequestHandler);

  return {
    router,
    close: async () => {
      await Promise.allSettled(queues.map((queue) => queue.close()));
      // disconnect, not quit: quit would wait in the offline queue while Redis is away.
      redis.disconnect();
    },
  };
}

/**
 * Job data holds no secret today (docs/contracts.md, "Dead letters"); this keeps it so on screen should one slip into a
 * dead letter's copied GHL body or a future field.
 */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, entry]) => [
      key,
      /token|secret|password|authorization|api[-_]?key/i.test(key) ? '[redacted]' : redactSecrets(entry),
    ]),
  );
}
