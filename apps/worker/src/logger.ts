import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * The worker's pino logger. Tokens are never handed to a log call (GhlError carries none, config is
 * logged through `describeConfig`); the redaction below is the second line of defence should one be
 * passed by mistake. Personal data (a ticket's contents) is only logged at debug.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'closeloop-worker' },
    redact: {
      paths: [
        'token',
        'tokens',
        '*.token',
        '*.tokens',
        'authorization',
        '*.authorization',
        'headers.authorization',
        '*.headers.authorization',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
