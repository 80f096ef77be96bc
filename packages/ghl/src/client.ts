import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { AbortError, RequestError, TimeoutError, type Response } from 'got';
import type { z } from 'zod';
import type { CredentialsProvider } from './credentials.js';
import {
  GhlError,
  GhlErrorBody,
  MissingCredentialsError,
  errorCodeForStatus,
  type GhlErrorCode,
} from './errors.js';
import { parseRateLimit, type RateLimitState } from './rate-limit.js';
import {
  DuplicateContactResponse,
  TaskListResponse,
  TaskResponse,
  TaskSearchResponse,
  type Contact,
  type SearchedTask,
  type Task,
} from './schemas.js';

export const DEFAULT_BASE_URL = 'https://services.leadconnectorhq.com';
/**
 * The only Version the contacts document accepts (`enum: ["2021-07-28"]`). GHL's own SDK switched its
 * default to 2023-02-21 in v3.0.0, so the value is always sent explicitly (docs/ghl-api.md §4, §6).
 */
export const DEFAULT_API_VERSION = '2021-07-28';
/** Below the 30 s of GHL's SDK: a stuck call holds a worker slot, and BullMQ retries it anyway. */
export const DEFAULT_TIMEOUT_MS = 15_000;
/** Connecting (TCP + TLS) gets at most this much of the total; a healthy connect takes milliseconds. */
const MAX_CONNECT_TIMEOUT_MS = 5_000;

export interface GhlResponse<T> {
  data: T;
  status: number;
  /** Parsed from this response's headers: the worker paces each location by it (docs/failure-policy.md). */
  rateLimit: RateLimitState;
}

export interface GhlClientOptions {
  /** Default https://services.leadconnectorhq.com; point it at the sandbox in dev and tests. */
  baseUrl?: string;
  /** The `Version` header; default 2021-07-28. */
  apiVersion?: string;
  credentials: CredentialsProvider;
  /**
   * Whole-request budget (connect + send + wait + read), default 15 000 ms; connecting alone gets at
   * most min(5 000, timeoutMs).
   */
  timeoutMs?: number;
  /**
   * Called once per call when it ends, however it ends (e.g. for a latency histogram by status
   * class). `operation` is the method's name ('completeTask', …), never an id; `status` is the last
   * HTTP status (undefined when GHL never answered); `code` is the GhlError's (undefined on success
   * and for a provider's own failure). An observer that throws is ignored.
   */
  onCall?: (call: GhlCallRecord) => void;
}

export interface GhlCallRecord {
  method: string;
  operation: GhlOperation;
  status: number | undefined;
  code: GhlErrorCode | undefined;
  durationMs: number;
}

export type GhlOperation = 'completeTask' | 'getTask' | 'listTasks' | 'findContactByEmail' | 'searchTasks';

/** Every call takes one: aborting it cuts the call off with GhlError ABORTED. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

export interface CompleteTaskInput extends CallOptions {
  /** Selects the token; omit in single-location mode. Not sent: task paths carry no location. */
  locationId?: string | undefined;
  contactId: string;
  taskId: string;
  completed: boolean;
}

export interface GetTaskInput extends CallOptions {
  locationId?: string | undefined;
  contactId: string;
  taskId: string;
}

export interface ListTasksInput extends CallOptions {
  locationId?: string | undefined;
  contactId: string;
}

export interface FindContactByEmailInput extends CallOptions {
  locationId: string;
  email: string;
}

/**
 * `TaskSearchParamsDto` (locations.json). Only what is given is sent: GHL's defaults (limit 25, skip 0)
 * apply otherwise. `contactIds` is sent as the DTO's `contactId` (an array despite its name).
 */
export interface SearchTasksInput extends CallOptions {
  locationId: string;
  query?: string;
  completed?: boolean;
  contactIds?: string[];
  assignedTo?: string[];
  /** A positive integer; GHL's default is 25. */
  limit?: number;
  /** A non-negative integer; GHL's default is 0. */
  skip?: number;
}

export interface GhlClient {
  /** `PUT /contacts/{contactId}/tasks/{taskId}/completed` with body exactly `{"completed":…}`. */
  completeTask(input: CompleteTaskInput): Promise<GhlResponse<Task>>;
  /** `GET /contacts/{contactId}/tasks/{taskId}`. */
  getTask(input: GetTaskInput): Promise<GhlResponse<Task>>;
  /** `GET /contacts/{contactId}/tasks` (no pagination exists for this route). */
  listTasks(input: ListTasksInput): Promise<GhlResponse<Task[]>>;
  /** `GET /contacts/search/duplicate?locationId=…&email=…`; `data` is null when GHL knows no such contact. */
  findContactByEmail(input: FindContactByEmailInput): Promise<GhlResponse<Contact | null>>;
  /**
   * `POST /locations/{locationId}/tasks/search` (scope `locations/tasks.readonly`): one page of the
   * location's tasks, `_id` normalised to `id` (docs/ghl-api.md §1.5).
   */
  searchTasks(input: SearchTasksInput): Promise<GhlResponse<SearchedTask[]>>;
  /** Destroys the keep-alive sockets; requests still in flight fail with NETWORK. */
  close(): Promise<void>;
}

interface RequestSpec<S extends z.ZodType, T> {
  operation: GhlOperation;
  method: 'GET' | 'PUT' | 'POST';
  /** The OpenAPI path template, e.g. '/contacts/{contactId}/tasks'. */
  route: string;
  /** Values for the template's `{names}`, encoded here. */
  params?: Record<string, string>;
  /** Encoded `a=b&c=d`, or undefined. */
  query?: string;
  /** The JSON text, or a function that builds it (and may refuse with INVALID_REQUEST) once the call starts. */
  body?: string | (() => string);
  locationId: string | undefined;
  signal: AbortSignal | undefined;
  schema: S;
  select: (parsed: z.infer<S>) => T;
}

interface PreparedRequest<S extends z.ZodType, T> extends RequestSpec<S, T> {
  /** Starts with '/', ids encoded; never contains the query. */
  path: string;
  body?: string;
}

export function createGhlClient(options: GhlClientOptions): GhlClient {
  const baseUrl = options.baseUrl ?? DEFAULT_BASE_URL;
  // Fail at start-up on a malformed base URL instead of as a per-request error that looks transient.
  const parsedBase = new URL(baseUrl);
  if (parsedBase.protocol !== 'http:' && parsedBase.protocol !== 'https:') {
    throw new TypeError(`GHL base URL must be http(s), got ${parsedBase.protocol}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new TypeError('timeoutMs must be a positive number');
  const connectTimeoutMs = Math.min(MAX_CONNECT_TIMEOUT_MS, timeoutMs);
  const credentials = options.credentials;

  // One pair of keep-alive agents per client: the worker sends many small requests to one host, and a
  // fresh TLS handshake per task would cost more than the request itself.
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true });

  const http = got.extend({
    prefixUrl: baseUrl,
    headers: {
      accept: 'application/json',
      version: options.apiVersion ?? DEFAULT_API_VERSION,
      'user-agent': 'closeloop-ghl',
    },
    timeout: { connect: connectTimeoutMs, secureConnect: connectTimeoutMs, request: timeoutMs },
    agent: { http: httpAgent, https: httpsAgent },
    // BullMQ owns retries (docs/failure-policy.md): a retry here would spend rate budget behind the worker's back
    // and stretch one attempt past its timeout.
    retry: { limit: 0 },
    // Every status is mapped below, so got must not turn them into its own errors (which carry the
    // request options, headers included).
    throwHttpErrors: false,
    // GHL does not redirect; following one would replay the Authorization header to wherever it points.
    followRedirect: false,
    // Parsed here, so a 2xx that is not JSON becomes BAD_RESPONSE instead of got's ParseError.
    responseType: 'text',
  });

  async function tokenFor(spec: PreparedRequest<z.ZodType, unknown>): Promise<string> {
    let token: string;
    try {
      token = await credentials.getToken(spec.locationId);
    } catch (error) {
      if (error instanceof MissingCredentialsError) {
        throw new GhlError({
          code: 'NO_CREDENTIALS',
          message: `GHL ${spec.method} ${spec.path} not sent: ${error.message}`,
          method: spec.method,
          path: spec.path,
        });
      }
      // Anything else (e.g. an OAuth store that cannot reach Redis) is the provider's own failure and
      // keeps its own type; the client does not guess whether it is transient.
      throw error;
    }
    // Node rejects such a header value with an error that got would wrap like a network failure
    // (retryable); a token with a newline or a non-ASCII character is a configuration error.
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw new GhlError({
        code: 'NO_CREDENTIALS',
        message: `GHL ${spec.method} ${spec.path} not sent: the token for location ${String(spec.locationId)} is empty or contains characters not allowed in an HTTP header`,
        method: spec.method,
        path: spec.path,
      });
    }
    return token;
  }

  async function send(spec: PreparedRequest<z.ZodType, unknown>, token: string): Promise<Response<string>> {
    const url = spec.path.slice(1) + (spec.query === undefined ? '' : `?${spec.query}`);
    try {
      return await http(url, {
        method: spec.method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(spec.body === undefined ? {} : { body: spec.body }),
        ...(spec.signal === undefined ? {} : { signal: spec.signal }),
      });
    } catch (error) {
      throw transportError(error, spec, [token]);
    }
  }

  /** `send` with the observer around it: one record per call, however the call ends. */
  async function request<S extends z.ZodType, T>(input: RequestSpec<S, T>): Promise<GhlResponse<T>> {
    const started = performance.now();
    let status: number | undefined;
    let code: GhlErrorCode | undefined;
    try {
      const response = await attempt(input);
      status = response.status;
      return response;
    } catch (error) {
      if (error instanceof GhlError) {
        status = error.status;
        code = error.code;
      }
      throw error;
    } finally {
      if (options.onCall) {
        const record = {
          method: input.method,
          operation: input.operation,
          status,
          code,
          durationMs: performance.now() - started,
        };
        try {
          options.onCall(record);
        } catch {
          // Observing must never change the outcome of a call.
        }
      }
    }
  }

  async function attempt<S extends z.ZodType, T>(input: RequestSpec<S, T>): Promise<GhlResponse<T>> {
    // An already aborted signal sends nothing (got would still open a socket first).
    if (input.signal?.aborted) {
      throw new GhlError({
        code: 'ABORTED',
        message: `GHL ${input.method} ${input.route} not sent: the call was cancelled`,
        method: input.method,
        path: input.route,
      });
    }
    const { body, ...rest } = input;
    const spec: PreparedRequest<S, T> = {
      ...rest,
      path: buildPath(input.method, input.route, input.params ?? {}),
      ...(body !== undefined && { body: typeof body === 'function' ? body() : body }),
    };
    const token = await tokenFor(spec);
    const secrets = [token];
    let response = await send(spec, token);

    if (response.statusCode === 401 && credentials.onUnauthorized) {
      const rejected = errorFromResponse(response, spec, secrets);
      // Exactly one retry, and only when the provider says it has a new token (OAuth refresh);
      // a second 401 falls through to the throw below without asking again.
      if (await credentials.onUnauthorized(spec.locationId, token, rejected)) {
        const renewed = await tokenFor(spec);
        secrets.push(renewed);
        response = await send(spec, renewed);
      }
    }

    if (response.statusCode < 200 || response.statusCode > 299) {
      throw errorFromResponse(response, spec, secrets);
    }

    const rateLimit = parseRateLimit(response.headers);
    const badResponse = (reason: string): GhlError =>
      new GhlError({
        code: 'BAD_RESPONSE',
        message: redact(`GHL ${spec.method} ${spec.path} answered ${response.statusCode} ${reason}`, secrets),
        method: spec.method,
        path: spec.path,
        status: response.statusCode,
        rateLimit,
      });

    let json: unknown;
    try {
      json = JSON.parse(response.body);
    } catch {
      throw badResponse(
        `with a body that is not JSON (content-type ${response.headers['content-type'] ?? 'none'})`,
      );
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      // Paths and zod's messages only: the values may be personal data (contact names, emails).
      const issues = parsed.error.issues
        .slice(0, 5)
        .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
        .join('; ');
      throw badResponse(`with a body that does not match the expected schema: ${issues}`);
    }
    return { data: spec.select(parsed.data), status: response.statusCode, rateLimit };
  }

  return {
    completeTask(input) {
      return request({
        operation: 'completeTask',
        signal: input.signal,
        method: 'PUT',
        route: '/contacts/{contactId}/tasks/{taskId}/completed',
        params: { contactId: input.contactId, taskId: input.taskId },
        // Only `completed`: GHL answers 422 to any unknown property (docs/ghl-api.md).
        body: JSON.stringify({ completed: input.completed }),
        locationId: input.locationId,
        schema: TaskResponse,
        select: (parsed) => parsed.task,
      });
    },
    getTask(input) {
      return request({
        operation: 'getTask',
        signal: input.signal,
        method: 'GET',
        route: '/contacts/{contactId}/tasks/{taskId}',
        params: { contactId: input.contactId, taskId: input.taskId },
        locationId: input.locationId,
        schema: TaskResponse,
        select: (parsed) => parsed.task,
      });
    },
    listTasks(input) {
      return request({
        operation: 'listTasks',
        signal: input.signal,
        method: 'GET',
        route: '/contacts/{contactId}/tasks',
        params: { contactId: input.contactId },
        locationId: input.locationId,
        schema: TaskListResponse,
        select: (parsed) => parsed.tasks,
      });
    },
    findContactByEmail(input) {
      return request({
        operation: 'findContactByEmail',
        signal: input.signal,
        method: 'GET',
        route: '/contacts/search/duplicate',
        // encodeURIComponent, as the spec asks ("test+abc@gmail.com will become test%2Babc%40gmail.com");
        // a raw '+' would be read as a space.
        query: `locationId=${encodeURIComponent(input.locationId)}&email=${encodeURIComponent(input.email)}`,
        locationId: input.locationId,
        schema: DuplicateContactResponse,
        select: (parsed) => parsed.contact ?? null,
      });
    },
    searchTasks(input) {
      return request({
        operation: 'searchTasks',
        signal: input.signal,
        method: 'POST',
        route: '/locations/{locationId}/tasks/search',
        params: { locationId: input.locationId },
        body: () => JSON.stringify(taskSearchBody(input)),
        locationId: input.locationId,
        schema: TaskSearchResponse,
        select: (parsed) => parsed.tasks,
      });
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
      return Promise.resolve();
    },
  };
}

/**
 * The body of task-search in the DTO's property order, with only the given fields: GHL validates it
 * with class-validator and refuses unknown properties (docs/ghl-api.md §6), so nothing else is added.
 * A limit or skip that is not a whole number is refused before sending (INVALID_REQUEST): GHL's DTO
 * types them `number`, and a fraction or NaN would only come back as a 422 after spending budget.
 */
function taskSearchBody(input: SearchTasksInput): Record<string, unknown> {
  const route = '/locations/{locationId}/tasks/search';
  const refuse = (reason: string): never => {
    throw new GhlError({
      code: 'INVALID_REQUEST',
      message: `GHL POST ${route} not sent: ${reason}`,
      method: 'POST',
      path: route,
    });
  };
  if (input.limit !== undefined && !(Number.isInteger(input.limit) && input.limit > 0)) {
    refuse('limit must be a positive integer');
  }
  if (input.skip !== undefined && !(Number.isInteger(input.skip) && input.skip >= 0)) {
    refuse('skip must be a non-negative integer');
  }
  return {
    ...(input.contactIds !== undefined && { contactId: input.contactIds }),
    ...(input.completed !== undefined && { completed: input.completed }),
    ...(input.assignedTo !== undefined && { assignedTo: input.assignedTo }),
    ...(input.query !== undefined && { query: input.query }),
    ...(input.limit !== undefined && { limit: input.limit }),
    ...(input.skip !== undefined && { skip: input.skip }),
  };
}

/**
 * Fills a route template with encoded ids. encodeURIComponent keeps '/', '?' and '#' in an id from
 * changing the route, but '', '.' and '..' survive it and the URL parser would collapse or climb on
 * them (`/contacts/../tasks`), so those are refused before anything is sent. The error names the
 * template, not the rejected value's would-be path.
 */
function buildPath(method: string, route: string, params: Record<string, string>): string {
  return route.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    if (value === undefined || value === '' || value === '.' || value === '..') {
      throw new GhlError({
        code: 'INVALID_REQUEST',
        message: `GHL ${method} ${route} not sent: ${name} must be a non-empty id other than "." or ".."`,
        method,
        path: route,
      });
    }
    return encodeURIComponent(value);
  });
}

function errorFromResponse(
  response: Response<string>,
  spec: PreparedRequest<z.ZodType, unknown>,
  secrets: readonly string[],
): GhlError {
  const status = response.statusCode;
  const code: GhlErrorCode = errorCodeForStatus(status);
  const body = parseErrorBody(response.body, secrets);
  const ghlMessage = body?.message === undefined ? undefined : [body.message].flat().join('; ');
  const detail = ghlMessage ?? (body?.error === undefined ? undefined : body.error);
  return new GhlError({
    code,
    message: redact(
      `GHL ${spec.method} ${spec.path} answered ${status} (${code})${detail === undefined ? '' : `: ${detail}`}`,
      secrets,
    ),
    method: spec.method,
    path: spec.path,
    status,
    body,
    rateLimit: parseRateLimit(response.headers),
  });
}

function parseErrorBody(text: string, secrets: readonly string[]): GhlErrorBody | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // An HTML error page from a proxy: nothing structured to keep.
    return undefined;
  }
  const parsed = GhlErrorBody.safeParse(json);
  return parsed.success ? (redactDeep(parsed.data, secrets) as GhlErrorBody) : undefined;
}

/**
 * got's errors hold the full request options (headers, Authorization included), so they are never
 * attached. The cause is a fresh Error carrying only got's class name, its code and its (redacted)
 * message, e.g. "RequestError ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:4010".
 */
function transportError(
  error: unknown,
  spec: PreparedRequest<z.ZodType, unknown>,
  secrets: readonly string[],
): unknown {
  if (!(error instanceof RequestError)) return error;
  const code: GhlErrorCode =
    error instanceof TimeoutError ? 'TIMEOUT' : error instanceof AbortError ? 'ABORTED' : 'NETWORK';
  const description = redact(`${error.name} ${error.code}: ${error.message}`, secrets);
  const cause = new Error(description);
  return new GhlError({
    // Every other transport failure (ECONNRESET, ECONNREFUSED, socket hang up, DNS, a broken response
    // stream) is treated as transient: the worker's retries are bounded (docs/failure-policy.md), and PUT
    // …/completed is idempotent, so resending after a reset cannot do harm.
    code,
    message: `GHL ${spec.method} ${spec.path} failed: ${description}`,
    method: spec.method,
    path: spec.path,
    cause,
  });
}

function redact(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret !== '') result = result.split(secret).join('[redacted]');
  }
  return result;
}

function redactDeep(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return redact(value, secrets);
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, secrets));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactDeep(item, secrets)]));
  }
  return value;
}
