import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEAD_LETTER_QUEUE, openTaskUpdateProducer, type TaskUpdateProducer } from '@closeloop/queue';
import {
  answerMalformedRequests,
  classifyMalformedRequest,
  listenOn,
  startOpsServer,
  stopHttpServer,
  type OpsServer,
} from '@closeloop/runtime';
import { Queue } from 'bullmq';
import express from 'express';
import type { Logger } from 'pino';
import { ADMIN_BASE_PATH, createAdminBoard, type AdminBoard } from './admin-board.js';
import { PING_DEADLINE_MS, createApp } from './app.js';
import { redactRedisUrl, type ReceiverConfig } from './config.js';
import { formatErrorBody, mapCodeToStatus, type ErrorCode } from './errors.js';
import { createLogger } from './logger.js';
import { ReceiverMetrics, measureRequests } from './metrics.js';
import { assignRequestContext } from './request-context.js';
import { createWebhookSources } from './webhook-sources.js';

/** How long close() lets requests in flight finish before cutting their connections, by default. */
export const REQUEST_DRAIN_GRACE_MS = 10_000;

export interface RunningReceiver {
  /** The webhook listener: http://host:port, with 127.0.0.1 when listening on every interface. */
  readonly url: string;
  readonly port: number;
  /** The admin listener (ADMIN_PORT/ADMIN_HOST): Bull Board, /metrics, /healthz, /readyz. */
  readonly adminUrl: string;
  readonly adminPort: number;
  /** Stops accepting on both listeners, lets requests in flight finish (bounded), then closes the queues and Redis. */
  close(): Promise<void>;
}

export interface StartReceiverOptions {
  logger?: Logger;
  /** How long close() lets requests in flight finish before cutting their connections. */
  shutdownGraceMs?: number;
}

/**
 * Starts the receiver: the webhook listener (PORT) and the admin listener (ADMIN_PORT, loopback by
 * default: Bull Board and /metrics are for operators, not the internet). Both listen at once,
 * whether Redis answers yet or not. Until it does (as during any later outage) the enqueueing
 * routes and /readyz answer 503 within a second, /healthz and /metrics 200; once Redis answers
 * everything works, without a restart. Used by main.ts and by the tests (ports 0).
 */
export async function startReceiver(
  config: ReceiverConfig,
  options: StartReceiverOptions = {},
): Promise<RunningReceiver> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const producer = openTaskUpdateProducer({ redisUrl: config.redisUrl, prefix: config.queuePrefix });
  const stopWatching = watchRedis(producer, config, logger);
  let deadLetterQueue: Queue | undefined;
  let board: AdminBoard | undefined;
  let admin: OpsServer | undefined;
  const closeQueues = async (): Promise<void> => {
    await admin?.close();
    stopWatching();
    await Promise.allSettled([board?.close(), deadLetterQueue?.close()]);
    await producer.close();
  };

  try {
    // On the producer's connection, not awaited (see openTaskUpdateProducer): /metrics bounds its
    // reads with a deadline, so it answers while Redis is away, also before Redis first answered.
    deadLetterQueue = new Queue(DEAD_LETTER_QUEUE, {
      connection: producer.redis,
      prefix: config.queuePrefix,
    });
    deadLetterQueue.on('error', (error) => logger.debug({ err: error }, 'dead-letter queue error'));
    const metrics = new ReceiverMetrics({
      sources: [...createWebhookSources(config).keys(), 'internal'],
      queues: [producer.queue, deadLetterQueue],
      prefix: config.queuePrefix,
    });
    board = config.admin
      ? createAdminBoard({
          redisUrl: config.redisUrl,
          prefix: config.queuePrefix,
          ...config.admin,
          logger,
          onUnauthorized: () => metrics.countRejected('UNAUTHORIZED'),
        })
      : undefined;
    const app = createApp({ config, producer, logger, metrics });
    // Node answers a missing Host and an unmet Expect itself, bare and empty; the app answers both
    // instead, in the error shape with a request id (refuseWhatNodeWouldRefuse in app.ts).
    const server = createServer({ requireHostHeader: false }, app);
    server.on('checkExpectation', app);
    server.on('clientError', answerMalformedRequest);
    await listenOn(server, config.port, config.host);
    admin = await startOpsServer({
      ...config.adminListener,
      logger,
      isReady: () => producer.redis.ping().then(() => true),
      readyTimeoutMs: PING_DEADLINE_MS,
      metrics: () => metrics.render(),
      routes: board ? [createAdminApp(board, metrics, logger)] : [],
    });

    const port = (server.address() as AddressInfo).port;
    const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info(
      {
        url,
        adminUrl: admin.url,
        metrics: `${admin.url}/metrics`,
        prefix: config.queuePrefix,
        webhookSecrets: config.webhookSecrets.length,
        internalApi: config.internalApiKey !== undefined,
        // Whether GET /oauth/callback is on; the app's client secret and CREDENTIALS_KEY never reach the log.
        oauthCallback: config.oauth !== undefined,
        // Names and types only: a source's secret and path token never reach the log.
        sources: config.sources.map((source) => `${source.name} (${source.type})`),
        board: board ? `${admin.url}${ADMIN_BASE_PATH}` : 'off (ADMIN_USER/ADMIN_PASSWORD unset)',
      },
      'receiver listening',
    );
    if (config.webhookSecrets.length === 0)
      logger.warn('WEBHOOK_SECRET unset: POST /webhooks/events answers 503');
    if (!config.internalApiKey) logger.warn('INTERNAL_API_KEY unset: POST /v1/task-updates answers 503');

    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      adminUrl: admin.url,
      adminPort: admin.port,
      close: () => {
        closing ??= (async () => {
          // The admin listener closes in closeQueues: a scrape during the drain still answers.
          await stopHttpServer(server, options.shutdownGraceMs ?? REQUEST_DRAIN_GRACE_MS);
          await closeQueues();
          logger.info('receiver closed');
        })();
        return closing;
      },
    };
  } catch (error) {
    await closeQueues();
    throw error;
  }
}

/**
 * The admin listener's own routes: Bull Board behind basic auth at ADMIN_BASE_PATH, with the same
 * access line and request histogram as the webhook port (who opened the board is worth a log line).
 * Anything else falls through to the ops server's 404.
 */
function createAdminApp(board: AdminBoard, metrics: ReceiverMetrics, logger: Logger): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(
    ADMIN_BASE_PATH,
    assignRequestContext(logger),
    measureRequests(metrics, ADMIN_BASE_PATH),
    board.router,
  );
  return app;
}

/**
 * Logs the transitions of the producer's connection, not every failed reconnect attempt (ioredis
 * retries every second). Returns what stops the start-up notice.
 */
function watchRedis(producer: TaskUpdateProducer, config: ReceiverConfig, logger: Logger): () => void {
  const redisUrl = redactRedisUrl(config.redisUrl);
  let connected = producer.redis.status === 'ready';
  let everConnected = connected;
  const notice = setTimeout(() => {
    if (!everConnected) logger.warn({ redisUrl }, 'waiting for Redis to answer; answering 503 until it does');
  }, 2_000);
  producer.redis.on('close', () => {
    if (connected) logger.warn({ redisUrl }, 'Redis connection lost; answering 503 until it is back');
    connected = false;
  });
  producer.redis.on('ready', () => {
    if (!connected) logger.info({ redisUrl }, everConnected ? 'Redis connection back' : 'Redis connected');
    connected = true;
    everConnected = true;
    clearTimeout(notice);
  });
  return () => clearTimeout(notice);
}

/**
 * Requests Node's HTTP parser refuses never reach Express (bad request line, conflicting
 * Content-Length, headers over 16 KiB, a too slow client); answer those in the same error shape.
 */
const answerMalformedRequest = answerMalformedRequests((error) => {
  const code: ErrorCode = classifyMalformedRequest(error);
  return {
    status: mapCodeToStatus(code),
    code,
    body: JSON.stringify(formatErrorBody(code, 'The HTTP request is malformed')),
  };
});
