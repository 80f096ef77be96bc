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
 */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_KEYS.flatMap((key) => [key, `*.${key}`]),
  ...SECRET_HEADERS.flatMap((header) => {
    const path = header.startsWith('[') ? `headers${header}` : `headers.${header}`;
    return [path, `*.${path}`];
  }),
];

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
    redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
  };
  if (options.format === 'pretty') {
    // In-process and synchronous, not pino's worker-thread transport: lines logged right before
    // process.exit (a fatal error, the end of a shutdown) must not be lost.
    const stream = pretty({ sync: true, ...(options.destination && { destination: options.destination }) });
    return pino(loggerOptions, stream);
  }
  return options.destination ? pino(loggerOptions, options.destination) : pino(loggerOptions);
}
