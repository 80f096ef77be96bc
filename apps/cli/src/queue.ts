import { InvalidArgumentError, type Command } from 'commander';
import { recordExitCode, type CliContext } from './context.js';
import { loadQueueSettings } from './env.js';
import { EXIT, type ExitCode } from './errors.js';
import { createOutput, formatDuration, plural } from './output.js';
import { DEFAULT_STATS_MAX_SCAN } from './queue-contract.js';
import { connectAdmin, loadQueueLibrary } from './redis.js';

/** `closeloop queue stats`: what `readQueueStats` (packages/queue/src/queue-stats.ts) reads, for people or --json. */
export function registerQueueCommands(program: Command, context: CliContext): void {
  const queue = program
    .command('queue')
    .description('the queues "task-updates" and "task-updates-dead"')
    .helpCommand(false);
  queue
    .command('stats')
    .description(
      'counts per state of both queues, the age of the job next in line, and the backlog ' +
        '(waiting + delayed + prioritized) per location',
    )
    .option(
      '--max-scan <n>',
      'read at most this many backlog jobs for the per-location figures',
      parseMaxScan,
      DEFAULT_STATS_MAX_SCAN,
    )
    .option('--json', 'print the figures as one JSON document')
    .action(
      recordExitCode(context, (options: { maxScan: number; json?: boolean }) =>
        statsCommand(context, options),
      ),
    );
}

function parseMaxScan(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number ≥ 1');
  return Number(value);
}

async function statsCommand(
  context: CliContext,
  options: { maxScan: number; json?: boolean },
): Promise<ExitCode> {
  const output = createOutput(context.io, options.json === true);
  const settings = await loadQueueSettings(context.io.env);
  const { DEAD_LETTER_QUEUE, QUEUE_STATES, TASK_UPDATES_QUEUE, readQueueCounts, readQueueStats } =
    await loadQueueLibrary();
  const admin = await connectAdmin(settings);
  try {
    const [stats, deadCounts] = await Promise.all([
      readQueueStats(admin.taskUpdates, { maxScan: options.maxScan }),
      readQueueCounts(admin.deadLetters),
    ]);
    if (output.isJson) {
      output.printJson({ [TASK_UPDATES_QUEUE]: stats, [DEAD_LETTER_QUEUE]: { counts: deadCounts } });
      return EXIT.ok;
    }
    output.table(
      ['QUEUE', ...QUEUE_STATES.map((state) => state.toUpperCase())],
      [
        [TASK_UPDATES_QUEUE, ...QUEUE_STATES.map((state) => String(stats.counts[state]))],
        [DEAD_LETTER_QUEUE, ...QUEUE_STATES.map((state) => String(deadCounts[state]))],
      ],
    );
    output.line();
    output.line(
      `oldest waiting job: ${stats.oldestWaitingAgeMs === null ? 'none waiting' : `${formatDuration(stats.oldestWaitingAgeMs)} (${stats.oldestWaitingAgeMs} ms)`}`,
    );
    const locations = Object.entries(stats.backlogByLocation).sort(([, a], [, b]) => b - a);
    output.line(
      `backlog per location (waiting + delayed + prioritized): ${locations.length === 0 ? 'none' : ''}`.trimEnd(),
    );
    if (locations.length > 0)
      output.table(
        ['  LOCATION', 'JOBS'],
        locations.map(([location, count]) => [`  ${location}`, String(count)]),
      );
    if (stats.truncated) {
      output.line(
        `(from the first ${plural(stats.scanned, 'backlog job')} only: raise --max-scan to read more)`,
      );
    }
    return EXIT.ok;
  } finally {
    await admin.close();
  }
}
