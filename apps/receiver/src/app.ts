import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { findNodeRefusal } from '@closeloop/runtime';
import {
  InternalTaskUpdateRequest,
  enqueueTaskUpdate,
  type EnqueueResult,
  type TaskEvent,
  type TaskUpdateProducer,
} from '@closeloop/queue';
import { createApiKeyCheck } from './api-key.js';
import type { ReceiverConfig } from './config.js';
import { runWithDeadline } from './deadline.js';
import { ReceiverError, buildQueueUnavailableError, type ErrorCode } from './errors.js';
import { assertJsonContentType, parseJsonBody, validateBody } from './json-body.js';
import { ReceiverMetrics, measureRequests } from './metrics.js';
import { createOAuthCallback } from './oauth-callback.js';
import { assignRequestContext, getRequestContext } from './request-context.js';
import { createWebhookSources, type WebhookSource } from './webhook-sources.js';

/**
 * How long a request may wait for Redis before it gets its 503 (docs/contracts.md, "HTTP": "within a second").
 * The producer's connection already fails at once while Redis is disconnected; this bounds the
 * other case, a Redis that is connected but does not answer (its 1 s command timeout would be
 * too late, and enqueueing takes up to three commands). Should the job land after the deadline
 * anyway, the sender's retry finds it and gets `duplicate: true`: nothing is lost or doubled.
 */
export const ENQUEUE_DEADLINE_MS = 800;
/** /readyz: "Redis answers a PING within ~500 ms". The admin listener's /readyz and /metrics use the same bound. */
export const PING_DEADLINE_MS = 500;

export interface AppDeps {
  config: ReceiverConfig;
  producer: TaskUpdateProducer;
  logger: Logger;
  /** Default: metrics in a registry of their own (tests). */
  metrics?: ReceiverMetrics;
}

/**
 * The receiver's internet-facing HTTP surface (docs/contracts.md): webhooks, the internal API,
 * /healthz and /readyz. Bull Board and /metrics are on the admin listener (server.ts), never here.
 * Thin routes; every failure goes to the one error handler.
 */
export function createApp(deps: AppDeps): express.Express {
  const { config, producer, logger } = deps;
  const sources = createWebhookSources(config);
  const metrics = deps.metrics ?? new ReceiverMetrics({ sources: [...sources.keys(), 'internal'] });
  const checkApiKey = config.internalApiKey ? createApiKeyCheck(config.internalApiKey) : undefined;
  // Every body is read as bytes, whatever its Content-Type: signatures are over the raw bytes, and
  // the Content-Type is judged after authentication, by us, with our error codes. No inflate: a
  // compressed body is refused (415) rather than decompressed before anyone is authenticated.
  const readRawBody = express.raw({ type: () => true, limit: config.bodyLimitBytes, inflate: false });

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(assignRequestContext(logger), measureRequests(metrics), refuseWhatNodeWouldRefuse);

  app.get('/healthz', (_req, res) => {
    res.status(200).json({ status: 'ok' });
  });
  app.all('/healthz', rejectOtherMethods('GET, HEAD'));

  app.get('/readyz', async (_req, res) => {
    try {
      await runWithDeadline(producer.redis.ping(), PING_DEADLINE_MS, () =>
        buildQueueUnavailableError(new Error(`no PONG within ${PING_DEADLINE_MS} ms`)),
      );
    } catch (error) {
      throw error instanceof ReceiverError ? error : buildQueueUnavailableError(error);
    }
    res.status(200).json({ status: 'ready' });
  });
  app.all('/readyz', rejectOtherMethods('GET, HEAD'));

  const accept = async (req: Request, res: Response, input: EnqueueInput): Promise<void> => {
    const context = getRequestContext(req, logger);
    context.log.debug(
      { source: input.source, idempotencyKey: input.idempotencyKey, event: input.event },
      'body',
    );
    const result = await enqueue(producer, input);
    metrics.countAccepted(input.source, result.duplicate);
    context.fields = { source: input.source, jobId: result.jobId, duplicate: result.duplicate };
    res.status(202).json(result);
  };

  // Unknown sources are 404 whatever the method; known ones take POST only. A source with a path
  // token is served only under its token: a wrong or missing token is as unknown as a wrong name.
  const findSource = (req: Request): WebhookSource => {
    const params = req.params as { source?: string; token?: string };
    const source = params.source === undefined ? undefined : sources.get(params.source);
    if (!source?.acceptsPath(params.token)) {
      throw new ReceiverError('UNKNOWN_SOURCE', 'No webhook source of that name');
    }
    return source;
  };
  // Two routes rather than one with an array of paths: the metrics label a request by its route pattern.
  for (const path of ['/webhooks/:source', '/webhooks/:source/:token']) {
    app.all(path, (req, _res, next) => {
      const source = findSource(req);
      if (req.method !== 'POST') throw buildMethodNotAllowedError('POST');
      if (!source.configured) {
        throw new ReceiverError('SOURCE_NOT_CONFIGURED', 'This webhook source has no secret configured');
      }
      next();
    });
    app.post(path, readRawBody, async (req, res) => {
      const source = findSource(req);
      const delivery = source.handle({
        method: req.method,
        url: req.originalUrl,
        headers: req.headers,
        rawBody: getRawBody(req),
        receivedAt: new Date(),
      });
      const context = getRequestContext(req, logger);
      if (delivery.kind === 'ignored') {
        metrics.countIgnored(source.name);
        context.fields = { source: source.name, ignored: delivery.reason };
        res.status(202).json({ ignored: true, reason: delivery.reason });
        return;
      }
      const match =
        delivery.ticketPattern === undefined ? undefined : { ticketPattern: delivery.ticketPattern };
      if (!delivery.batch && delivery.events.length === 1 && delivery.events[0]) {
        await accept(req, res, { source: source.name, ...delivery.events[0], match });
        return;
      }
      // A batch (HubSpot sends up to 100 events in one array): every event becomes its own job, all
      // stored before the 202. Should Redis fail midway, the sender's retry re-adds the same jobs (same
      // ids) and reports the stored ones as duplicates: nothing is lost or doubled.
      context.log.debug({ source: source.name, events: delivery.events }, 'body');
      const jobs: EnqueueResult[] = [];
      for (const mapped of delivery.events) {
        const result = await enqueue(producer, { source: source.name, ...mapped, match });
        metrics.countAccepted(source.name, result.duplicate);
        jobs.push(result);
      }
      context.fields = { source: source.name, jobs: jobs.length, ignored: delivery.ignored.length };
      res.status(202).json({ jobs, ignored: delivery.ignored });
    });
  }

  app.post(
    '/v1/task-updates',
    (req, _res, next) => {
      if (!checkApiKey) {
        throw new ReceiverError('SOURCE_NOT_CONFIGURED', 'INTERNAL_API_KEY is not configured');
      }
      // The key is in a header, so it is checked before a byte of the body is read.
      checkApiKey(req.headers.authorization);
      assertJsonContentType(req.headers['content-type']);
      next();
    },
    readRawBody,
    async (req, res) => {
      const { idempotencyKey, ...event } = validateBody(
        InternalTaskUpdateRequest,
        parseJsonBody(getRawBody(req)),
      );
      await accept(req, res, { source: 'internal', idempotencyKey, event });
    },
  );
  app.all('/v1/task-updates', rejectOtherMethods('POST'));

  // The marketplace app's redirect URL (oauth-callback.ts); the store shares the producer's connection.
  const oauthCallback = createOAuthCallback({
    config: config.oauth,
    redis: producer.redis,
    prefix: config.queuePrefix,
    logger,
  });
  app.get(
    '/oauth/callback',
    (req, _res, next) => {
      // Express routes HEAD to GET handlers: a HEAD (a link preview, a prefetch) must not spend the
      // single-use code before the person's browser arrives with it.
      if (req.method === 'HEAD') throw buildMethodNotAllowedError('GET');
      next();
    },
    oauthCallback,
  );
  app.all('/oauth/callback', rejectOtherMethods('GET'));

  app.use((req, _res, next) => {
    next(new ReceiverError('NOT_FOUND', `No route for ${req.method} ${req.path.slice(0, 200)}`));
  });

  app.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    const context = getRequestContext(req, logger);
    const answer = translateError(error);
    if (!answer) {
      // A bug or an unforeseen failure: the details go to the log, never to the caller.
      context.log.error({ err: error }, 'unexpected error');
    } else if (answer.code === 'QUEUE_UNAVAILABLE') {
      context.log.warn({ err: answer.cause }, 'queue unavailable');
    }
    const receiverError = answer ?? new ReceiverError('INTERNAL', 'Internal error');
    if (res.headersSent) {
      next(error);
      return;
    }
    context.errorCode = receiverError.code;
    metrics.countRejected(receiverError.code);
    res.set(receiverError.options.headers ?? {});
    res.status(receiverError.status).json(receiverError.toBody());
  });

  return app;
}

type EnqueueInput = {
  source: string;
  idempotencyKey: string;
  event: TaskEvent;
  match?: { ticketPattern: string } | undefined;
};

async function enqueue(producer: TaskUpdateProducer, input: EnqueueInput): Promise<EnqueueResult> {
  try {
    return await runWithDeadline(enqueueTaskUpdate(producer, input), ENQUEUE_DEADLINE_MS, () =>
      buildQueueUnavailableError(new Error(`no answer from Redis within ${ENQUEUE_DEADLINE_MS} ms`)),
    );
  } catch (error) {
    if (error instanceof ReceiverError) throw error;
    // The input was validated against the same schemas: a ZodError here is our bug, not the sender's.
    if (error instanceof ZodError) throw error;
    // Everything else comes from Redis (disconnected, timed out, refused the write): the job is not
    // stored, and a retry may well succeed.
    throw buildQueueUnavailableError(error);
  }
}

/** The body bytes; a request without a body (no Content-Length, no Transfer-Encoding) is empty. */
function getRawBody(req: Request): Buffer {
  const body: unknown = req.body;
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

/**
 * What Node would refuse itself with a bare, empty answer (runtime http-server.ts findNodeRefusal;
 * server.ts turns its checks off or routes them here) gets the error shape and a request id here.
 */
function refuseWhatNodeWouldRefuse(req: Request, _res: Response, next: NextFunction): void {
  const refusal = findNodeRefusal(req);
  if (refusal) throw new ReceiverError(refusal.code, refusal.message);
  next();
}

function buildMethodNotAllowedError(allow: string): ReceiverError {
  return new ReceiverError('METHOD_NOT_ALLOWED', `Use ${allow}`, { headers: { Allow: allow } });
}

function rejectOtherMethods(allow: string): RequestHandler {
  return () => {
    throw buildMethodNotAllowedError(allow);
  };
}

/**
 * What to answer for an error: ours as they are; the 4xx of body-parser and Express under our
 * codes (body-parser's come from http-errors with `expose`, the router's "Failed to decode param"
 * carries only `status: 400`); undefined for everything else (→ bare 500).
 */
function translateError(error: unknown): ReceiverError | undefined {
  if (error instanceof ReceiverError) return error;
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, type, limit } = error as { status?: unknown; type?: unknown; limit?: unknown };
  if (typeof status !== 'number' || status < 400 || status > 499) return undefined;
  switch (type) {
    case 'entity.too.large':
      return new ReceiverError(
        'PAYLOAD_TOO_LARGE',
        `The body is larger than ${typeof limit === 'number' ? limit : 'the limit of'} bytes`,
      );
    case 'encoding.unsupported':
      return new ReceiverError(
        'UNSUPPORTED_MEDIA_TYPE',
        'Content-Encoding is not supported; send the body as is',
      );
    case 'request.aborted':
      return new ReceiverError('BAD_REQUEST', 'The request was aborted');
    case 'request.size.invalid':
      return new ReceiverError('BAD_REQUEST', 'The body length does not match Content-Length');
    default: {
      const code: ErrorCode =
        status === 404
          ? 'NOT_FOUND'
          : status === 413
            ? 'PAYLOAD_TOO_LARGE'
            : status === 415
              ? 'UNSUPPORTED_MEDIA_TYPE'
              : 'BAD_REQUEST';
      return new ReceiverError(
        code,
        code === 'BAD_REQUEST' ? 'The request is malformed' : 'The request was refused',
      );
    }
  }
}
