import type { RequestHandler, Response } from 'express';
import { ghlError, MESSAGES } from './ghl-errors.js';
import { redactSecrets } from './oauth.js';
import type { RateLimitState } from './rate-limiter.js';
import type { RecordedCall } from './schemas.js';
import type { SandboxState } from './state.js';

/* What every GHL-side route (task routes, /oauth) shares: the per-request context and the one way to answer. */

export type ParsedBody =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'invalid'; message: string }
  /** application/x-www-form-urlencoded, on /oauth routes only (apps/oauth.json). */
  | { kind: 'form'; value: Record<string, string> };

/** What one GHL request carries through the middleware chain. */
export interface CallContext {
  call: RecordedCall;
  /** Location of the presented token; undefined when the token is missing or unknown. */
  locationId: string | undefined;
  /** Company of a presented Company OAuth token. */
  companyId?: string;
  /** The bearer token as sent, for /oauth/locationToken; never recorded. */
  token?: string;
  /** /oauth routes: the call log keeps the answer with its tokens redacted. */
  redactResponse?: boolean;
  body: ParsedBody;
  rateHeadersSet: boolean;
  /** performance.now() when the request arrived: a fault's `applyDelayMs` counts from here. */
  arrivedAt: number;
  /** Set by a fault with `applyDelayMs`: the PUT's state change is deferred by that much. */
  applyDelayMs?: number;
  /** Set with `applyDelayMs`: the answer is held until this performance.now() (from `latencyMs`). */
  answerAt?: number;
}

export function contextOf(res: Response): CallContext {
  return (res.locals as { ghl: CallContext }).ghl;
}

export function setRateHeaders(res: Response, limits: RateLimitState): void {
  res.setHeader('X-RateLimit-Max', String(limits.burstLimit));
  res.setHeader('X-RateLimit-Remaining', String(limits.burstRemaining));
  res.setHeader('X-RateLimit-Interval-Milliseconds', String(limits.burstIntervalMs));
  res.setHeader('X-RateLimit-Limit-Daily', String(limits.dailyLimit));
  res.setHeader('X-RateLimit-Daily-Remaining', String(limits.dailyRemaining));
  contextOf(res).rateHeadersSet = true;
}

/**
 * The one way a GHL route answers: records the answer in the call log and, when the token is known,
 * adds GHL's rate-limit headers (GHL sends them on every response, docs/ghl-api.md). A request answered
 * before the rate-limit step (bad Version, a fault) shows the budget without being counted.
 */
export function answer(state: SandboxState, res: Response, status: number, body: unknown): void {
  const context = contextOf(res);
  if (!context.rateHeadersSet && context.locationId !== undefined) {
    setRateHeaders(res, state.rateLimiter.peek(context.locationId));
  }
  const send = (): void => {
    context.call.status = status;
    context.call.responseBody = context.redactResponse ? redactSecrets(body) : body;
    res.status(status).json(body);
  };
  // An `applyDelayMs` fault ran the checks at once and holds only the answer (see applyFaults).
  const wait = context.answerAt === undefined ? 0 : context.answerAt - performance.now();
  if (wait > 0) state.delay(Math.ceil(wait), send);
  else send();
}

/** Step 1: GHL answers 401, not 400, for a missing or unknown Version header (docs/ghl-api.md §3, §6). */
export function checkVersion(state: SandboxState): RequestHandler {
  return (req, res, next) => {
    const header = req.headers.version;
    const version = Array.isArray(header) ? header.join(', ') : header;
    if (version === undefined || version === '') {
      answer(state, res, 401, ghlError(401, MESSAGES.versionMissing));
    } else if (!state.supportedVersions.has(version)) {
      answer(state, res, 401, ghlError(401, MESSAGES.versionInvalid));
    } else {
      next();
    }
  };
}
