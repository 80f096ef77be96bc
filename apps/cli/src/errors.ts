/**
 * The command's exit codes (apps/cli/README.md, "Exit codes"): scripts branch on them, so each
 * means one thing.
 */
export const EXIT = {
  ok: 0,
  /** Something asked for was not found, only part of the work was done, or an unexpected failure. */
  failed: 1,
  /** The command line or the environment is wrong (also: purge without --yes); nothing was changed. */
  usage: 2,
  /** Redis could not be reached (or was lost mid-command). */
  redisUnreachable: 3,
  /** Stopped by Ctrl-C (SIGINT) after the item in progress: 128 + 2, the shell's convention. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the command explains in one message on stderr, with the exit code that goes with it. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function usageError(message: string): CliError {
  return new CliError(message, EXIT.usage);
}
