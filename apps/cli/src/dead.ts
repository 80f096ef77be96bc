import { createInterface } from 'node:readline/promises';
import type {
  BulkOptions,
  DeadLetterAdmin,
  DeadLetterDetails,
  DeadLetterFilter,
  DeadLetterSelection,
  PurgeReport,
  ReplayReport,
} from '@closeloop/queue';
import { Command, InvalidArgumentError, Option } from 'commander';
import { recordExitCode, type CliContext, type CliIo } from './context.js';
import { loadQueueSettings } from './env.js';
import { EXIT, usageError, type ExitCode } from './errors.js';
import { createOutput, plural, truncate, type Output } from './output.js';
import { barSharesTerminal, startProgress } from './progress.js';
import { DeadLetterReason } from './queue-contract.js';
import { connectAdmin, loadQueueLibrary } from './redis.js';
import { parseTimeArgument } from './time.js';

/**
 * `closeloop dead list | show | replay | purge`: the dead letters of `task-updates-dead`, through the
 * library that owns their lifecycle (packages/queue/src/dead-letters.ts).
 */
export function registerDeadCommands(program: Command, context: CliContext): void {
  const dead = program
    .command('dead')
    .description('dead letters (queue "task-updates-dead"): list, show, replay, purge')
    .helpCommand(false);

  filterOptions(dead.command('list'), { limit: true })
    .description('list dead letters, oldest first: a table and a count line, or --json')
    .option('--json', 'print the entries as one JSON array')
    .action(
      recordExitCode(context, (options: FilterOptions & { json?: boolean }) =>
        withAdmin(context, (admin) =>
          listCommand(admin, createOutput(context.io, options.json === true), options),
        ),
      ),
    );

  dead
    .command('show')
    .description(
      'one dead letter: the original event, GHL status and body, attempts and times, the original job',
    )
    .argument('<id>', "the dead letter's id (the original job id)")
    .option('--json', 'print the details as one JSON document')
    .action(
      recordExitCode(context, (id: string, options: { json?: boolean }) =>
        withAdmin(context, (admin) =>
          showCommand(admin, createOutput(context.io, options.json === true), id),
        ),
      ),
    );

  selectionOptions(dead.command('replay'))
    .description(
      'send dead letters back to "task-updates": the failed job is retried with its attempts reset, or added ' +
        'again under the same id when it is gone. Ctrl-C stops after the current one; run again to continue.',
    )
    .option('--dry-run', 'say what would be replayed, change nothing')
    .option('--json', 'print the reports as one JSON document')
    .action(
      recordExitCode(context, (ids: string[], options: SelectionOptions & BulkFlags, command: Command) => {
        const selection = selectionFrom(command, ids, options);
        return withAdmin(context, (admin) => replayCommand(context.io, admin, selection, options));
      }),
    );

  selectionOptions(dead.command('purge'))
    .description(
      'delete dead letters for good (and their failed original jobs). Refuses without --yes (asks on a terminal) ' +
        'and says how many would be purged.',
    )
    .option('--yes', 'purge without asking')
    .option('--dry-run', 'say what would be purged, change nothing')
    .option('--json', 'print the reports as one JSON document')
    .action(
      recordExitCode(
        context,
        (ids: string[], options: SelectionOptions & BulkFlags & { yes?: boolean }, command: Command) => {
          const selection = selectionFrom(command, ids, options);
          return withAdmin(context, (admin) => purgeCommand(context.io, admin, selection, options));
        },
      ),
    );
}

// Options -------------------------------------------------------------------------------------------

interface FilterOptions {
  reason?: DeadLetterReason;
  location?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

interface SelectionOptions extends FilterOptions {
  all?: boolean;
}

interface BulkFlags {
  dryRun?: boolean;
  json?: boolean;
}

const TIME_HELP = 'ISO 8601 (2026-11-28T10:00:00Z, 2026-11-28) or an age (30m, 2h, 3d)';

function filterOptions(command: Command, { limit }: { limit: boolean }): Command {
  command
    .addOption(new Option('--reason <reason>', 'only this reason').choices(DeadLetterReason.options))
    .option('--location <locationId>', "only events for this GHL location (the event's ghl.locationId)")
    .option('--since <time>', `dead-lettered at or after: ${TIME_HELP}`, (value: string) =>
      parseTimeArgument(value),
    )
    .option('--until <time>', `dead-lettered before: ${TIME_HELP}`, (value: string) =>
      parseTimeArgument(value),
    );
  if (limit) command.option('--limit <n>', 'at most this many (the oldest)', parsePositiveInteger);
  return command;
}

function selectionOptions(command: Command): Command {
  return filterOptions(command.argument('[ids...]', 'dead letter ids (the original job ids)'), {
    limit: false,
  }).addOption(
    new Option('--all', 'every dead letter (may be narrowed with --since/--until)').conflicts([
      'reason',
      'location',
    ]),
  );
}

function parsePositiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number ≥ 1');
  return Number(value);
}

function filterFrom(options: FilterOptions): DeadLetterFilter {
  return {
    ...(options.reason !== undefined && { reason: options.reason }),
    ...(options.location !== undefined && { locationId: options.location }),
    ...(options.since !== undefined && { since: options.since }),
    ...(options.until !== undefined && { until: options.until }),
    ...(options.limit !== undefined && { limit: options.limit }),
  };
}

/** Ids, or filters, or --all: exactly one way of saying which dead letters; never "all" by omission. */
function selectionFrom(command: Command, ids: string[], options: SelectionOptions): DeadLetterSelection {
  const filter = filterFrom(options);
  const filtered = Object.keys(filter).length > 0;
  if (ids.length > 0) {
    if (filtered || options.all)
      throw usageError(`${command.name()}: give ids, or filters / --all, not both`);
    return { ids };
  }
  if (!filtered && !options.all) {
    throw usageError(
      `${command.name()}: say which dead letters: ids, --reason, --location, --since/--until, or --all (see --help)`,
    );
  }
  return { filter };
}

// Commands -------------------------------------------------------------------------------------------

async function withAdmin(
  context: CliContext,
  run: (admin: DeadLetterAdmin) => Promise<ExitCode>,
): Promise<ExitCode> {
  const admin = await connectAdmin(await loadQueueSettings(context.io.env));
  try {
    return await run(admin);
  } finally {
    await admin.close();
  }
}

async function listCommand(
  admin: DeadLetterAdmin,
  output: Output,
  options: FilterOptions,
): Promise<ExitCode> {
  const { listDeadLetters } = await loadQueueLibrary();
  const entries = await listDeadLetters(admin, filterFrom(options));
  if (output.isJson) {
    output.printJson(entries);
    return EXIT.ok;
  }
  if (entries.length > 0) {
    output.table(
      ['ID', 'REASON', 'HTTP', 'LOCATION', 'ATTEMPTS', 'DEAD AT', 'LAST ERROR'],
      entries.map(({ id, letter }) => [
        id,
        letter.reason,
        letter.http ? String(letter.http.status) : '-',
        locationOf(letter.job) ?? '-',
        String(letter.attempts),
        letter.deadAt,
        truncate(letter.lastError, 60),
      ]),
    );
  }
  const limited = options.limit !== undefined && entries.length === options.limit;
  output.line(
    `${plural(entries.length, 'dead letter')}${limited ? ` (--limit ${options.limit} reached)` : ''}`,
  );
  return EXIT.ok;
}

async function showCommand(admin: DeadLetterAdmin, output: Output, id: string): Promise<ExitCode> {
  const { getDeadLetter } = await loadQueueLibrary();
  const details = await getDeadLetter(admin, id);
  if (!details) {
    output.note(`closeloop: no dead letter "${id}"`);
    return EXIT.failed;
  }
  if (output.isJson) output.printJson(details);
  else for (const line of describeDeadLetter(details)) output.line(line);
  return EXIT.ok;
}

function describeDeadLetter({ id, letter, original }: DeadLetterDetails): string[] {
  const lines = [
    `id               ${id}`,
    `reason           ${letter.reason}`,
    `attempts         ${letter.attempts}`,
    `first attempt    ${letter.firstAttemptAt}`,
    `dead at          ${letter.deadAt}`,
    `last error       ${letter.lastError}`,
  ];
  if (letter.http) {
    lines.push(
      `GHL status       ${letter.http.status}`,
      'GHL body',
      indent(JSON.stringify(letter.http.body, null, 2)),
    );
  }
  lines.push('original event', indent(JSON.stringify(letter.job, null, 2)));
  if (original) {
    const times = [
      `added ${new Date(original.timestamp).toISOString()}`,
      original.processedOn !== undefined && `last run ${new Date(original.processedOn).toISOString()}`,
      original.finishedOn !== undefined && `finished ${new Date(original.finishedOn).toISOString()}`,
    ].filter(Boolean);
    lines.push(
      `original job     ${original.state}, ${plural(original.attemptsMade, 'attempt')} made, ${times.join(', ')}`,
    );
    if (original.failedReason) lines.push(`failed reason    ${original.failedReason}`);
  } else {
    lines.push('original job     gone from "task-updates" (a replay adds it again)');
  }
  return lines;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

async function replayCommand(
  io: CliIo,
  admin: DeadLetterAdmin,
  selection: DeadLetterSelection,
  options: BulkFlags,
): Promise<ExitCode> {
  const { replayDeadLetters } = await loadQueueLibrary();
  const output = createOutput(io, options.json === true);
  const run = await runInterruptibly(io, output, 'replay', (bulk) =>
    replayDeadLetters(admin, selection, { ...bulk, dryRun: options.dryRun === true }),
  );
  return reportBulk(output, 'replay', run, options.dryRun === true);
}

async function purgeCommand(
  io: CliIo,
  admin: DeadLetterAdmin,
  selection: DeadLetterSelection,
  options: BulkFlags & { yes?: boolean },
): Promise<ExitCode> {
  const { purgeDeadLetters } = await loadQueueLibrary();
  const output = createOutput(io, options.json === true);
  if (options.dryRun) {
    const run = await runInterruptibly(io, output, 'purge', (bulk) =>
      purgeDeadLetters(admin, selection, { ...bulk, dryRun: true }),
    );
    return reportBulk(output, 'purge', run, true);
  }
  let confirmed = selection;
  if (!options.yes) {
    const preview = await purgeDeadLetters(admin, selection, { dryRun: true });
    const ids = preview.filter((report) => report.outcome === 'would-purge').map((report) => report.id);
    const missing = preview.length - ids.length;
    const missingNote = missing > 0 ? ` (${missing} not found)` : '';
    if (ids.length === 0) {
      output.note(`closeloop: nothing to purge${missingNote}`);
      return missing > 0 ? EXIT.failed : EXIT.ok;
    }
    const question = `Purge ${plural(ids.length, 'dead letter')}${missingNote} for good? [y/N] `;
    if (!(io.stdin.isTTY && io.stderr.isTTY && !output.isJson && (await ask(io, question)))) {
      output.note(
        `closeloop: ${plural(ids.length, 'dead letter')} would be purged${missingNote}; nothing was purged. ` +
          'Add --yes to purge them (--dry-run lists them).',
      );
      return EXIT.usage;
    }
    // Exactly what was counted and confirmed, not what the filter matches a moment later.
    confirmed = { ids };
  }
  const run = await runInterruptibly(io, output, 'purge', (bulk) => purgeDeadLetters(admin, confirmed, bulk));
  return reportBulk(output, 'purge', run, false);
}

async function ask(io: CliIo, question: string): Promise<boolean> {
  const prompt = createInterface({ input: io.stdin, output: io.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

// Bulk runs: progress, Ctrl-C, reports ---------------------------------------------------------------

type BulkReport = ReplayReport | PurgeReport;

interface BulkRun<R extends BulkReport> {
  reports: R[];
  interrupted: boolean;
}

/**
 * Runs one bulk operation with a progress bar (terminal only) and Ctrl-C handling: the first SIGINT
 * aborts the library's signal, which stops after the item in hand (every item is either still a dead
 * letter or done, packages/queue/src/dead-letters.ts), and what was done is reported; a second SIGINT
 * exits at once. A closed stdout (EPIPE) stops the run the same way. Item lines stream to stdout as
 * they happen, unless a bar shares the terminal.
 */
async function runInterruptibly<R extends BulkReport>(
  io: CliIo,
  output: Output,
  verb: 'replay' | 'purge',
  run: (bulk: BulkOptions) => Promise<R[]>,
): Promise<BulkRun<R>> {
  const interrupted = new AbortController();
  const progressEnabled = !output.isJson;
  const progress = startProgress(io, verb, progressEnabled);
  const stopListening = io.onInterrupt(() => {
    if (interrupted.signal.aborted) {
      progress.stop();
      io.exit(EXIT.interrupted);
    }
    interrupted.abort();
    output.note('\ncloseloop: stopping after the current dead letter (Ctrl-C again to quit now)');
  });
  const signal = AbortSignal.any([interrupted.signal, io.stdoutClosed]);
  const streamLines = !barSharesTerminal(io, progressEnabled);
  try {
    const reports = await run({
      signal,
      onProgress: (report, done, total) => {
        progress.update(done, total);
        if (streamLines) output.line(reportLine(report));
      },
    });
    progress.stop();
    if (!streamLines) for (const report of reports) output.line(reportLine(report));
    return { reports, interrupted: signal.aborted };
  } finally {
    progress.stop();
    stopListening();
  }
}

function reportLine(report: BulkReport): string {
  return `${report.id}  ${report.outcome}`;
}

function reportBulk<R extends BulkReport>(
  output: Output,
  verb: 'replay' | 'purge',
  run: BulkRun<R>,
  dryRun: boolean,
): ExitCode {
  const counts: Record<string, number> = {};
  for (const { outcome } of run.reports) counts[outcome] = (counts[outcome] ?? 0) + 1;
  if (output.isJson) {
    output.printJson({ dryRun, interrupted: run.interrupted, counts, reports: run.reports });
  } else {
    const summary = Object.entries(counts)
      .map(([outcome, count]) => `${count} ${outcome}`)
      .join(', ');
    output.line(
      `${verb}${dryRun ? ' (dry run, nothing changed)' : ''}: ${plural(run.reports.length, 'dead letter')}` +
        (summary ? ` — ${summary}` : ''),
    );
  }
  if (run.interrupted) {
    output.note(
      `closeloop: interrupted after ${plural(run.reports.length, 'dead letter')}; run the same command again to continue`,
    );
    return EXIT.interrupted;
  }
  return counts['not-found'] ? EXIT.failed : EXIT.ok;
}

/** The event's `ghl.locationId`, read defensively: an INVALID_JOB letter holds whatever the job held. */
function locationOf(job: unknown): string | undefined {
  const location = (job as { event?: { ghl?: { locationId?: unknown } } } | null | undefined)?.event?.ghl
    ?.locationId;
  return typeof location === 'string' ? location : undefined;
}
