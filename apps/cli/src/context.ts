import type { ExitCode } from './errors.js';

/** The process's streams, environment and signals, passed down from main.ts (the only file that uses `process`). */
export interface CliIo {
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  readonly env: NodeJS.ProcessEnv;
  /** Aborted once whoever reads stdout has gone (EPIPE, as in `closeloop dead list | head -1`). */
  readonly stdoutClosed: AbortSignal;
  /** Calls `listener` on each Ctrl-C (SIGINT) until the returned function is called. */
  onInterrupt(listener: () => void): () => void;
  /** Ends the process at once (a second Ctrl-C). */
  exit(code: ExitCode): never;
}

export interface CliContext {
  readonly io: CliIo;
  /** Set by the command that ran; main.ts turns it into the process's exit code. */
  exitCode: ExitCode;
}

/**
 * A commander action that returns its exit code: commander ignores what an action returns, so the
 * code is recorded on the context.
 */
export function recordExitCode<A extends unknown[]>(
  context: CliContext,
  action: (...args: A) => Promise<ExitCode>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    context.exitCode = await action(...args);
  };
}
