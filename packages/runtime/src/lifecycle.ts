import type { Logger } from 'pino';

/** What `start` hands back: the one way to stop what it started. */
export interface Closable {
  close(): Promise<void>;
}

export interface RunOptions {
  /** The process's name, in the start-up failure line. */
  name: string;
  logger: Logger;
  /** Opens everything the process needs; resolves once it is serving. */
  start: () => Promise<Closable>;
  /**
   * The bound on a shutdown: waiting for a pending `start`, then `close`. Past it the process
   * exits 1 with whatever is left open. Default 10 s.
   */
  shutdownTimeoutMs?: number;
}

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

/**
 * `fn` run at most once: every call returns the first call's promise, so a signal, a fatal error
 * and a caller that all ask to close share one close.
 */
export function closeOnce<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => (pending ??= Promise.resolve().then(fn));
}

/**
 * Resolves `true` when `promise` resolves within `ms`, `false` when it has not settled by then;
 * rejects when it rejects within `ms`. The timer is cleared as soon as the promise settles.
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The lifecycle of every closeloop process (see the exit codes in packages/runtime/README.md):
 * - `start` fails → fatal line, exit 1;
 * - SIGTERM/SIGINT → `close`, bounded by `shutdownTimeoutMs` → exit 0 when it finished, 1 when it
 *   failed or timed out; a signal during `start` closes right after `start` resolves;
 * - a second signal → exit 1 at once (the operator asked twice; do not make them wait);
 * - an unhandled rejection or uncaught exception → fatal line, a bounded close, exit 1: the process
 *   is in a state nobody planned for, so it stops, and its supervisor restarts it.
 */
export function run(options: RunOptions): void {
  const { logger, name } = options;
  const timeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  let stopping = false;
  let failed = false;

  // Started in a microtask, so the handlers below are in place before any of the process's code runs.
  const started = Promise.resolve().then(options.start);
  const close = closeOnce(async () => (await started).close());

  const shutdown = closeOnce(async () => {
    let outcome: 'closed' | 'timed out' | 'failed' = 'closed';
    try {
      if (!(await settlesWithin(close(), timeoutMs))) {
        outcome = 'timed out';
        logger.error({ timeoutMs }, 'shutdown timed out');
      }
    } catch (error) {
      outcome = 'failed';
      logger.error({ err: error }, 'shutdown failed');
    }
    process.exit(outcome === 'closed' && !failed ? 0 : 1);
  });

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, timeoutMs }, 'shutting down');
    void shutdown();
  };

  const onFatal =
    (message: string) =>
    (error: unknown): void => {
      logger.fatal({ err: error }, message);
      failed = true;
      stopping = true;
      void shutdown();
    };

  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('unhandledRejection', onFatal('unhandled rejection'));
  process.on('uncaughtException', onFatal('uncaught exception'));

  started.catch((error: unknown) => {
    logger.fatal({ err: error }, `${name} failed to start`);
    process.exit(1);
  });
}
