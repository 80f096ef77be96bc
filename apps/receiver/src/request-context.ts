import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { requestIdFor } from '@closeloop/runtime';
import type { Logger } from 'pino';
import type { ErrorCode } from './errors.js';

export interface RequestContext {
  requestId: string;
  log: Logger;
  /** Set when the request is answered with an error, for the access log line. */
  errorCode?: ErrorCode;
  /** What the route wants on the access log line (source, job id, duplicate). */
  fields?: Record<string, unknown>;
}

/** Kept beside the request rather than on it: no global type augmentation of Express. */
const contexts = new WeakMap<Request, RequestContext>();

/**
 * Gives each request an id (the caller's `x-request-id` when sane, else a new UUID), echoes it in
 * the response, and a child logger carrying it. One access line per request at info, with the
 * path but never the query, headers or body (bodies only at debug, in the routes).
 */
export function assignRequestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const requestId = requestIdFor(req.headers['x-request-id']);
    const context: RequestContext = { requestId, log: logger.child({ requestId }) };
    contexts.set(req, context);
    res.setHeader('x-request-id', requestId);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      context.log.info(
        {
          method: req.method,
          // originalUrl: inside a mounted router (Bull Board) req.path is relative. Never the query.
          path: redactPathToken(req.originalUrl.split('?')[0] ?? ''),
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
          ...context.fields,
          ...(context.errorCode ? { code: context.errorCode } : {}),
        },
        'request',
      );
    });
    next();
  };
}

export function getRequestContext(req: Request, fallback: Logger): RequestContext {
  let context = contexts.get(req);
  if (!context) {
    // Only for errors raised before assignRequestContext ran (it is the first middleware).
    context = { requestId: randomUUID(), log: fallback };
    contexts.set(req, context);
  }
  return context;
}

/**
 * A source's path token (POST /webhooks/{source}/{token}, docs/senders/README.md) is a secret in
 * the URL: the log keeps the route's shape, not the token.
 */
export function redactPathToken(path: string): string {
  return path.replace(/^(\/webhooks\/[^/]+\/)[^/]+/, '$1[REDACTED]');
}
