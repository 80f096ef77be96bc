import { Command, CommanderError } from 'commander';
import type { CliContext, CliIo } from './context.js';
import { registerDeadCommands } from './dead.js';
import { registerEnqueueCommand } from './enqueue.js';
import { CliError, EXIT, type ExitCode } from './errors.js';
import { registerLocationsCommands } from './locations.js';
import { registerQueueCommands } from './queue.js';
import { isConnectionFailure } from './redis.js';

/**
 * `closeloop …` (apps/cli/bin/closeloop.js → here): builds the program, runs it, sets the exit code.
 * The only file that uses `process`; everything else gets streams, env and signals through `CliIo`.
 */

const EXIT_CODES_HELP = `
Environment: REDIS_URL (default redis://127.0.0.1:6379), QUEUE_PREFIX (default closeloop);
CREDENTIALS_KEY for the locations commands (the credential store's key, as the worker has it).
On Redis Cluster, REDIS_URL is redis+cluster://host:port,host:port and QUEUE_PREFIX needs a
{hash tag}, e.g. {closeloop} (docs/redis-cluster.md).

Exit codes:
  0    done
  1    something asked for was not found, only part was done, or an unexpected error
  2    usage error or invalid environment (also: purge without --yes); nothing changed
  3    Redis unreachable
  130  interrupted by Ctrl-C after the item in progress; run the same command again to continue`;

export function buildProgram(context: CliContext): Command {
  const { io } = context;
  const program = new Command('closeloop')
    .description(
      "closeloop's operator command: dead letters, queue figures, events by hand, credentials per location",
    )
    // Set before the subcommands are added: commander copies these settings into each of them.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .showHelpAfterError('(add --help for usage)')
    .helpCommand(false)
    .addHelpText('after', EXIT_CODES_HELP);
  registerDeadCommands(program, context);
  registerQueueCommands(program, context);
  registerEnqueueCommand(program, context);
  registerLocationsCommands(program, context);
  return program;
}

/** Runs one command line; resolves to the exit code, never rejects. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const context: CliContext = { io, exitCode: EXIT.ok };
  try {
    await buildProgram(context).parseAsync([...argv], { from: 'user' });
    return context.exitCode;
  } catch (error) {
    return exitCodeFor(error, io);
  }
}

function exitCodeFor(error: unknown, io: CliIo): ExitCode {
  // Commander has already printed its message (or the help). --help and --version exit 0; every
  // other commander error is a usage error, including `closeloop dead` without a subcommand.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof CliError) {
    io.stderr.write(`closeloop: ${error.message}\n`);
    return error.exitCode;
  }
  if (isConnectionFailure(error)) {
    io.stderr.write(`closeloop: lost the connection to Redis: ${(error as Error).message}\n`);
    return EXIT.redisUnreachable;
  }
  io.stderr.write(`closeloop: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.failed;
}

const stdoutGone = new AbortController();
// Without a listener an EPIPE is an uncaught exception with a stack trace; a bulk run stops after
// its current item instead, as on Ctrl-C, and later writes go nowhere.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stdoutGone.abort();
});
const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  stdoutClosed: stdoutGone.signal,
  onInterrupt: (listener) => {
    process.on('SIGINT', listener);
    return () => process.off('SIGINT', listener);
  },
  exit: (exitCode) => process.exit(exitCode),
});
process.exitCode = code;
// Everything the command opened is closed by now. Should a library still hold a handle (a socket
// mid-reconnect after a Redis outage), the answer has been given: do not make the operator wait.
setTimeout(() => process.exit(code), 500).unref();
