import { createLogger as createRuntimeLogger, type LogFormat, type LogLevel } from '@closeloop/runtime';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from '@closeloop/runtime';

/** The worker's logger: the one every process uses (packages/runtime/README.md), named for the worker. */
export function createLogger(level: LogLevel, destination?: DestinationStream, format?: LogFormat): Logger {
  return createRuntimeLogger({
    service: 'worker',
    level,
    format,
    ...(destination && { destination }),
  });
}
