import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import { answer, checkVersion, contextOf, setRateHeaders, type CallContext } from './call-context.js';
import { faultBody, ghlError, ghlValidationError, MESSAGES } from './ghl-errors.js';
import { createOAuthRouter, isOAuthPath, parseOAuthBody } from './oauth-routes.js';
import type { RecordedCall, SandboxContact, SandboxTask } from './schemas.js';
import type { SandboxState } from './state.js';
import { parseTaskSearch, searchTasks, toSearchedTask } from './task-search.js';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

function recordCall(state: SandboxState): RequestHandler {
  return (req, res, next) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      // Never record a token, not even a wrong one (docs/contracts.md, "Dead letters": no secret ever).
      headers[name] =
        name === 'authorization' ? 'Bearer [redacted]' : Array.isArray(value) ? value.join(', ') : value;
    }
    const query: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.query)) {
      if (typeof value === 'string') query[name] = value;
      else if (Array.isArray(value)) query[name] = value.map(String).join(',');
    }
    const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
    const subject = token === undefined ? undefined : state.subjectOfToken(token);
    const locationId = subject?.kind === 'location' ? subject.locationId : undefined;
    const companyId = subject?.kind === 'company' ? subject.companyId : undefined;
    const call: RecordedCall = {
      at: new Date().toISOString(),
      method: req.method,
      path: req.path,
      query,
      headers,
      ...(locationId !== undefined && { tokenLocationId: locationId }),
      ...(companyId !== undefined && { tokenCompanyId: companyId }),
      body: undefined,
      status: 0,
      responseBody: undefined,
    };
    state.calls.push(call);
    const context: CallContext = {
      call,
      locationId,
      ...(companyId !== undefined && { companyId }),
      ...(token !== undefined && { token }),
      body: { kind: 'none' },
      rateHeadersSet: false,
      arrivedAt: performance.now(),
    };
    (res.locals as { ghl: CallContext }).ghl = context;
    next();
  };
}

/** Runs after express.text: keeps the raw text so that bad JSON can be answered 400 and still recorded. */
const parseBody: RequestHandler = (req, res, next) => {
  const raw: unknown = req.body;
  const context = contextOf(res);
  if (isOAuthPath(req.path)) {
    // Form bodies carrying client secrets, codes and tokens: parsed and recorded redacted.
    parseOAuthBody(req, context, raw);
  } else if (typeof raw === 'string' && raw.length > 0) {
    try {
      const value: unknown = JSON.parse(raw);
      context.body = { kind: 'json', value };
      context.call.body = value;
    } catch (error) {
      context.body = { kind: 'invalid', message: error instanceof Error ? error.message : 'Invalid JSON' };
      context.call.body = raw;
    }
  }
  next();
};

/**
 * Faults come after recording (the call shows in the log) and before every normal check, so a 500
 * fault answers 500 whatever the token, like an outage in front of GHL's auth would.
 */
function applyFaults(state: SandboxState): RequestHandler {
  return (req, res, next) => {
    const fault = state.faults.take(req.path);
    if (!fault) {
      next();
      return;
    }
    const context = contextOf(res);
    if (
      fault.applyDelayMs !== undefined &&
      !fault.resetConnection &&
      fault.status === undefined &&
      fault.body === undefined
    ) {
      // The request is handled now and its state change scheduled from its arrival, while the answer
      // waits `latencyMs` on its own: the two clocks are independent, as they are for a PUT that GHL
      // applies while its answer is lost or late.
      for (const [name, value] of Object.entries(fault.headers ?? {})) res.setHeader(name, value);
      context.applyDelayMs = fault.applyDelayMs;
      if (fault.latencyMs !== undefined && fault.latencyMs > 0) {
        context.answerAt = context.arrivedAt + fault.latencyMs;
      }
      next();
      return;
    }
    const act = (): void => {
      if (fault.resetConnection) {
        context.call.status = 0;
        req.socket.destroy();
        return;
      }
      for (const [name, value] of Object.entries(fault.headers ?? {})) res.setHeader(name, value);
      if (fault.status === undefined && fault.body === undefined) {
        next();
        return;
      }
      const status = fault.status ?? 200;
      if (status === 429) {
        // A 429 must look like GHL's: the burst budget shows nothing left (docs/ghl-api.md).
        const limits =
          context.locationId === undefined
            ? state.rateLimiter.fresh()
            : state.rateLimiter.peek(context.locationId);
        setRateHeaders(res, { ...limits, burstRemaining: 0 });
      }
      answer(state, res, status, fault.body === undefined ? faultBody(status) : fault.body);
    };
    if (fault.latencyMs !== undefined && fault.latencyMs > 0) state.delay(fault.latencyMs, act);
    else act();
  };
}

/**
 * Step 2: a missing, malformed, unknown or expired bearer token is a 401 "Invalid JWT" (issue #213);
 * an agency (Company) token on a location route is a 401 "not authorized for this scope" (docs/ghl-api.md §3).
 */
function checkToken(state: SandboxState): RequestHandler {
  return (_req, res, next) => {
    const context = contextOf(res);
    if (context.companyId !== undefined)
      answer(state, res, 401, ghlError(401, MESSAGES.notAuthorizedForScope));
    else if (context.locationId === undefined) answer(state, res, 401, ghlError(401, MESSAGES.invalidToken));
    else next();
  };
}

/** Step 3: the burst window and the day, per location of the token (docs/ghl-api.md). */
function checkRateLimit(state: SandboxState): RequestHandler {
  return (_req, res, next) => {
    const context = contextOf(res);
    if (context.locationId === undefined) {
      next();
      return;
    }
    const decision = state.rateLimiter.consume(context.locationId);
    setRateHeaders(res, decision);
    if (decision.allowed) next();
    else answer(state, res, 429, ghlError(429, MESSAGES.tooManyRequests));
  };
}

/**
 * Step 4 for PUT …/completed: class-validator with `forbidNonWhitelisted`, as GHL's NestJS DTOs do —
 * unknown properties are 422 (issue #262), and 422 messages are arrays (UnprocessableDTO).
 */
function validateCompletedBody(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return ['completed must be a boolean value'];
  }
  const messages: string[] = [];
  for (const key of Object.keys(value)) {
    if (key !== 'completed') messages.push(`property ${key} should not exist`);
  }
  if (typeof (value as { completed?: unknown }).completed !== 'boolean') {
    messages.push('completed must be a boolean value');
  }
  return messages;
}

/** Step 5: the contact must exist (404) and belong to the token's location (403, issue #213). */
function resolveContact(state: SandboxState, res: Response, contactId: string): SandboxContact | undefined {
  const contact = state.contact(contactId);
  if (!contact) {
    answer(state, res, 404, ghlError(404, MESSAGES.contactNotFound));
    return undefined;
  }
  if (contact.locationId !== contextOf(res).locationId) {
    answer(state, res, 403, ghlError(403, MESSAGES.wrongLocation));
    return undefined;
  }
  return contact;
}

function resolveTask(
  state: SandboxState,
  res: Response,
  contactId: string,
  taskId: string,
): SandboxTask | undefined {
  const task = state.task(taskId);
  if (!task || task.contactId !== contactId) {
    answer(state, res, 404, ghlError(404, MESSAGES.taskNotFound));
    return undefined;
  }
  return task;
}

/** TaskSchema of the contacts document: no locationId, no updatedAt. */
function toGhlTask(task: SandboxTask): Record<string, unknown> {
  return {
    id: task.id,
    title: task.title,
    body: task.body,
    assignedTo: task.assignedTo,
    dueDate: task.dueDate,
    completed: task.completed,
    contactId: task.contactId,
  };
}

function param(req: Request, name: string): string {
  const value: unknown = (req.params as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : '';
}

/** GHL's API routes, with the checks in the order the real API applies them. */
export function createGhlRouter(state: SandboxState): express.Router {
  const router = express.Router();
  const guard = [checkVersion(state), checkToken(state), checkRateLimit(state)];

  router.put('/contacts/:contactId/tasks/:taskId/completed', ...guard, (req, res) => {
    const context = contextOf(res);
    if (context.body.kind === 'invalid') {
      answer(state, res, 400, ghlError(400, context.body.message));
      return;
    }
    // An empty body reaches the validator as {}, as with NestJS's body parser.
    const value = context.body.kind === 'json' ? context.body.value : {};
    const messages = validateCompletedBody(value);
    if (messages.length > 0) {
      answer(state, res, 422, ghlValidationError(messages));
      return;
    }
    const contactId = param(req, 'contactId');
    const taskId = param(req, 'taskId');
    if (!resolveContact(state, res, contactId) || !resolveTask(state, res, contactId, taskId)) return;
    const completed = (value as { completed: boolean }).completed;
    const applyDelayMs = contextOf(res).applyDelayMs;
    if (applyDelayMs !== undefined) {
      const current = state.task(taskId);
      if (!current) return;
      const wait = contextOf(res).arrivedAt + applyDelayMs - performance.now();
      if (wait > 0) state.scheduleApply(Math.ceil(wait), () => state.setTaskCompleted(taskId, completed));
      else state.setTaskCompleted(taskId, completed);
      // The answer reports the state that will be applied, as GHL's would once it has applied it.
      answer(state, res, 200, { task: toGhlTask({ ...current, completed }) });
      return;
    }
    const task = state.setTaskCompleted(taskId, completed);
    if (task) answer(state, res, 200, { task: toGhlTask(task) });
  });

  router.post('/locations/:locationId/tasks/search', ...guard, (req, res) => {
    const context = contextOf(res);
    // The location check comes before the body: in NestJS, guards (where GHL's IAM checks the token
    // against the path's location) run before pipes (where the DTO is validated),
    // https://docs.nestjs.com/guards ("Guards are executed after all middleware, but before any
    // interceptor or pipe").
    if (param(req, 'locationId') !== context.locationId) {
      answer(state, res, 403, ghlError(403, MESSAGES.wrongLocation));
      return;
    }
    if (context.body.kind === 'invalid') {
      answer(state, res, 400, ghlError(400, context.body.message));
      return;
    }
    const parsed = parseTaskSearch(context.body.kind === 'json' ? context.body.value : {});
    if (!parsed.ok) {
      answer(state, res, 422, ghlValidationError(parsed.messages));
      return;
    }
    const page = searchTasks(state.tasksOfLocation(param(req, 'locationId')), parsed.search);
    const tasks = page.map((task) =>
      toSearchedTask(task, state.contact(task.contactId), state.taskAdded(task.id)?.dateAdded ?? ''),
    );
    // 201: NestJS's default for a POST handler, and what the real search is reported to answer
    // (docs/ghl-api.md §1.5); the document lists only 200.
    answer(state, res, 201, { tasks });
  });

  router.get('/contacts/search/duplicate', ...guard, (req, res) => {
    const { locationId, email } = contextOf(res).call.query;
    if (locationId === undefined || locationId === '') {
      // A missing required query parameter is a class-validator 422, like a missing body field (issue #31).
      answer(
        state,
        res,
        422,
        ghlValidationError(['locationId should not be empty', 'locationId must be a string']),
      );
      return;
    }
    if (locationId !== contextOf(res).locationId) {
      answer(state, res, 403, ghlError(403, MESSAGES.wrongLocation));
      return;
    }
    // The query string is already URL-decoded here; an unencoded '+' has become a space, which is why
    // GHL's document tells callers to send test%2Babc%40gmail.com.
    const contact = email ? state.contactByEmail(locationId, email) : undefined;
    // GHL's document gives this 200 no schema at all; `{contact: {...} | null}` is what clients read
    // (docs/ghl-api.md §1.4).
    answer(state, res, 200, {
      contact: contact
        ? {
            id: contact.id,
            locationId: contact.locationId,
            email: contact.email,
            firstName: contact.firstName,
            lastName: contact.lastName,
          }
        : null,
    });
  });

  router.get('/contacts/:contactId/tasks/:taskId', ...guard, (req, res) => {
    const contactId = param(req, 'contactId');
    if (!resolveContact(state, res, contactId)) return;
    const task = resolveTask(state, res, contactId, param(req, 'taskId'));
    if (task) answer(state, res, 200, { task: toGhlTask(task) });
  });

  router.get('/contacts/:contactId/tasks', ...guard, (req, res) => {
    const contactId = param(req, 'contactId');
    if (!resolveContact(state, res, contactId)) return;
    answer(state, res, 200, { tasks: state.tasksOfContact(contactId).map(toGhlTask) });
  });

  return router;
}

/** Installs the GHL side: record → parse → faults → routes → 404 → errors. */
export function installGhlApi(app: express.Express, state: SandboxState): void {
  app.use(recordCall(state));
  // Raw text for every content type: bad JSON must reach the route (to be answered 400 after the
  // Version/token/rate checks) and be recorded as sent.
  app.use(express.text({ type: () => true, limit: '1mb' }));
  app.use(parseBody);
  app.use(applyFaults(state));
  app.use(createOAuthRouter(state));
  app.use(createGhlRouter(state));
  app.use((req, res) => {
    // NestJS's default for an unknown route.
    answer(state, res, 404, ghlError(404, `Cannot ${req.method} ${req.path}`));
  });
  const onError: ErrorRequestHandler = (error: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status =
      typeof error === 'object' && error !== null && 'status' in error && typeof error.status === 'number'
        ? error.status
        : 500;
    if (status >= 500) {
      answer(state, res, 500, faultBody(500));
    } else {
      answer(state, res, status, ghlError(status, error instanceof Error ? error.message : 'Bad Request'));
    }
  };
  app.use(onError);
}
