import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import type { LogFormat, LogLevel } from './env.js';

export type { Logger } from 'pino';

const SECRET_KEYS = ['token', 'tokens', 'password', 'apiKey', 'secret', 'secrets', 'authorization'];
const SECRET_HEADERS = ['authorization', 'cookie', '["set-cookie"]', '["webhook-signature"]'];

/**
 * The one redaction list. Code never hands a credential to a log call (routes do not log headers
 * wholesale, GhlError carries no token, configurations are logged through their describe helpers);
 * this is the second line of defence should one be passed by mistake: credential-named fields and
 * credential headers, at the top level and one level down (`{ req: { headers } }`, `{ ghl: { token } }`).
 * In pino's path syntax, for people; `redactSecrets` enforces it.
 */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`]),
  ...SECRET_HEADERS.flatMap((header) => {
    const path = header.startsWith('[') ? `headers${header}` : `headers.${header}`;
    return [path, `*.${path}`];
  }),
];

const CENSOR = '[redacted]';
const SECRET_KEY_SET = new Set(SECRET_KEYS);
const SECRET_HEADER_SET = new Set(SECRET_HEADERS.map((header) => header.replace(/^\["(.*)"\]$/, '$1')));

/**
 * REDACTED_PATHS applied to one log object (pino's `formatters.log`), copying only what it changes.
 * Written out rather than pino's `redact` option: with these 28 wildcard paths, pino 10's
 * @pinojs/redact cost 5 % of the receiver's CPU per event, nearly all of its access-log line (a
 * --cpu-prof of `pnpm bench receiver`); this is one pass over the object's keys and those of its
 * object values. logger.test.ts holds it to the list.
 */
export function redactSecrets(object: Record<string, unknown>, depth = 0): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  const replace = (key: string, value: unknown): void => {
    copy ??= plainCopy(object);
    copy[key] = value;
  };
  for (const key of Object.keys(object)) {
    const value = object[key];
    if (SECRET_KEY_SET.has(key)) {
      replace(key, CENSOR);
    } else if (key === 'headers' && isObject(value)) {
      const headers = redactHeaders(value);
      if (headers !== value) replace(key, headers);
    } else if (depth === 0 && isObject(value)) {
      const redacted = redactSecrets(value, 1);
      if (redacted !== value) replace(key, redacted);
    }
  }
  return copy ?? object;
}

function redactHeaders(headers: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const name of Object.keys(headers)) {
    if (!SECRET_HEADER_SET.has(name)) continue;
    copy ??= { ...headers };
    copy[name] = CENSOR;
  }
  return copy ?? headers;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An Error stays an Error (its message and stack are not enumerable), for pino's err serializer.
 * Values are read from the original, not descriptors copied: on Node 24 (V8 13.6) `stack` is an
 * accessor that answers only for the error it was captured on, so a copied getter gave `undefined`
 * and the log line lost its stack (logger.test.ts, run on Node 24 by scripts/test-node24.sh).
 */
function plainCopy(object: Record<string, unknown>): Record<string, unknown> {
  if (!(object instanceof Error)) return { ...object };
  const copy = Object.create(Object.getPrototypeOf(object) as object) as Record<string, unknown>;
  for (const key of Reflect.ownKeys(object)) {
    Object.defineProperty(copy, key, {
      value: (object as Record<string | symbol, unknown>)[key],
      enumerable: Object.prototype.propertyIsEnumerable.call(object, key),
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

export interface CreateLoggerOptions {
  /** The process's name, on every line as `service`. */
  service: string;
  level: LogLevel;
  /** `json` (default): one object a line. `pretty`: pino-pretty, for people (`pnpm dev`). */
  format?: LogFormat;
  /** Where lines go; stdout by default. Tests pass a stream that collects them. */
  destination?: DestinationStream;
}

/** The pino logger every closeloop process uses. */
export function createLogger(options: CreateLoggerOptions): Logger {
  const loggerOptions: LoggerOptions = {
    level: options.level,
    base: { service: options.service },
    formatters: { log: (object) => redactSecrets(object), bindings: (bindings) => redactSecrets(bindings) },
  };
  if (options.format === 'pretty') {
    // In-process and synchronous, not pino's worker-thread transport: lines logged right before
    // process.exit (a fatal error, the end of a shutdown) must not be lost.
    const stream = pretty({ sync: true, ...(options.destination && { destination: options.destination }) });
    return redactChildBindings(pino(loggerOptions, stream));
  }
  // Synchronous for the same reason. pino's default stdout stream writes asynchronously and, at
  // process.exit, writes what it buffered at once while a write may still be in flight: lines came
  // out of order ("started" after "closed", "shutting down" after "closed": lifecycle.test.ts).
  const destination = options.destination ?? pino.destination({ dest: 1, sync: true });
  return redactChildBindings(pino(loggerOptions, destination));
}

/**
 * A child logger's fields (`logger.child({ … })`) are held to the same list. pino 10 gives children
 * no bindings formatter (lib/proto.js `child` resets it), so `child` itself redacts; every
 * descendant is an `Object.create` of the root and finds this `child` on it.
 */
function redactChildBindings(logger: Logger): Logger {
  // Unbound on purpose: called on a descendant, `this` is that descendant.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const child = logger.child as unknown as (this: Logger, ...args: unknown[]) => Logger;
  const redactingChild = function (this: Logger, bindings: Record<string, unknown>, ...rest: unknown[]) {
    return child.call(this, redactSecrets(bindings), ...rest);
  };
  Object.defineProperty(logger, 'child', { value: redactingChild, writable: true, configurable: true });
  return logger;
}
