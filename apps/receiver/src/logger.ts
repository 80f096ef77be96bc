import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * The receiver's pino logger. Routes never log headers wholesale; the redaction list is the safety
 * net for the ones that carry credentials, should a header object ever reach a log line.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'receiver' },
    redact: {
      paths: [
        'headers.authorization',
        'headers["webhook-signature"]',
        'headers.cookie',
        '*.headers.authorization',
        '*.headers["webhook-signature"]',
        '*.headers.cookie',
        'password',
        '*.password',
        'apiKey',
        '*.apiKey',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
