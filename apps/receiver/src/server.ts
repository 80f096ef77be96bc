import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEAD_LETTER_QUEUE, openTaskUpdateProducer, type TaskUpdateProducer } from '@closeloop/queue';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { ADMIN_BASE_PATH, createAdminBoard, type AdminBoard } from './admin-board.js';
import { createApp } from './app.js';
import { redactRedisUrl, type ReceiverConfig } from './config.js';
import { formatErrorBody, mapCodeToStatus, type ErrorCode } from './errors.js';
import { createLogger } from './logger.js';
import { ReceiverCounters } from './metrics.js';

export interface RunningReceiver {
  /** http://host:port, with 127.0.0.1 when listening on every interface. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, lets requests in flight finish (bounded), then closes the queues and Redis. */
  close(): Promise<void>;
}

export interface StartReceiverOptions {
  logger?: Logger;
  /** How long close() lets requests in flight finish before cutting their connections. */
  shutdownGraceMs?: number;
}

/**
 * Starts the receiver: listens at once, whether Redis answers yet or not. Until it does (as during
 * any later outage) the enqueueing routes and /readyz answer 503 QUEUE_UNAVAILABLE within a second,
 * /healthz and /metrics 200; once Redis answers everything works, without a restart. Used by
 * main.ts and by the tests (port 0).
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
  const closeQueues = async (): Promise<void> => {
    stopWatching();
    await Promise.allSettled([board?.close(), deadLetterQueue?.close()]);
    await producer.close();
  };

  try {
    // On the producer's connection, not awaited (see openTaskUpdateProducer): /metrics bounds it
    // with a deadline, so it answers while Redis is away, also before Redis first answered.
    deadLetterQueue = new Queue(DEAD_LETTER_QUEUE, {
      connection: producer.redis,
      prefix: config.queuePrefix,
    });
    deadLetterQueue.on('error', (error) => logger.debug({ err: error }, 'dead-letter queue error'));
    board = config.admin
      ? createAdminBoard({ redisUrl: config.redisUrl, prefix: config.queuePrefix, ...config.admin, logger })
      : undefined;
    const counters = new ReceiverCounters(['events', 'internal']);
    const app = createApp({
      config,
      producer,
      logger,
      deadLetterQueue,
      adminRouter: board?.router,
      counters,
    });
    const server = createServer(app);
    server.on('clientError', answerMalformedRequest);
    await startListening(server, config.port, config.host);

    const port = (server.address() as AddressInfo).port;
    const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.info(
      {
        url,
        prefix: config.queuePrefix,
        webhookSecrets: config.webhookSecrets.length,
        internalApi: config.internalApiKey !== undefined,
        board: board ? `${url}${ADMIN_BASE_PATH}` : 'off (ADMIN_USER/ADMIN_PASSWORD unset)',
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
      close: () => {
        closing ??= (async () => {
          await stopServer(server, options.shutdownGraceMs ?? 10_000);
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

function startListening(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * server.close() stops accepting and closes idle keep-alive sockets once (Node ≥ 19); sockets that
 * go idle after their response are closed by the polling, and after the grace period everything is.
 */
function stopServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(idle);
      clearTimeout(force);
      resolve();
    });
  });
}

/**
 * Requests Node's HTTP parser refuses never reach Express (bad request line, conflicting
 * Content-Length, headers over 16 KiB, a too slow client); answer those in the same error shape.
 */
function answerMalformedRequest(error: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const code: ErrorCode =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 'HEADERS_TOO_LARGE'
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'REQUEST_TIMEOUT'
        : 'BAD_REQUEST';
  const body = JSON.stringify(formatErrorBody(code, 'The HTTP request is malformed'));
  socket.end(
    `HTTP/1.1 ${mapCodeToStatus(code)} ${code}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
