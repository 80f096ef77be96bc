import { createLogger as createRuntimeLogger, type LogFormat, type LogLevel } from '@closeloop/runtime';
import type { DestinationStream, Logger } from 'pino';

export type { Logger } from '@closeloop/runtime';

/**
 * The receiver's logger: the one every process uses, with its one redaction list
 * (packages/runtime/README.md), named for the receiver. Routes never log headers wholesale.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, format?: LogFormat): Logger {
  return createRuntimeLogger({ service: 'receiver', level, format, ...(destination && { destination }) });
}
