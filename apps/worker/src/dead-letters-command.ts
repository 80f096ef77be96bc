import { parseArgs } from 'node:util';
import {
  DEFAULT_QUEUE_PREFIX,
  DeadLetterReason,
  listDeadLetters,
  openDeadLetterAdmin,
  replayDeadLetters,
  type DeadLetterSelection,
} from '@closeloop/queue';

const USAGE = `Dead letters of closeloop (queue "task-updates-dead"). Environment: REDIS_URL, QUEUE_PREFIX.

  dead-letters list [--reason REASON] [--json]
  dead-letters replay --id JOB_ID [--id JOB_ID …]
  dead-letters replay --reason REASON
  dead-letters replay --all

Replaying removes the dead letter and sends the job back to "task-updates": the failed job is retried
with its attempts reset, or added again under the same id when it is gone.
Reasons: ${DeadLetterReason.options.join(', ')}`;

/** Parses and runs one `dead-letters` command (entry point: dead-letters-cli.ts); returns the exit code. */
export async function runDeadLettersCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        id: { type: 'string', multiple: true },
        reason: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    err(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help || command === undefined || positionals.length > 1) {
    (values.help ? out : err)(USAGE);
    return values.help ? 0 : 2;
  }
  let reason: DeadLetterReason | undefined;
  if (values.reason !== undefined) {
    const checked = DeadLetterReason.safeParse(values.reason);
    if (!checked.success) {
      err(`unknown reason "${values.reason}"; one of: ${DeadLetterReason.options.join(', ')}`);
      return 2;
    }
    reason = checked.data;
  }

  let selection: DeadLetterSelection | undefined;
  if (command === 'replay') {
    const given = [values.id !== undefined, reason !== undefined, values.all === true].filter(Boolean).length;
    if (given !== 1) {
      err(`replay needs exactly one of --id, --reason, --all\n\n${USAGE}`);
      return 2;
    }
    selection = values.id ? { ids: values.id } : { filter: reason ? { reason } : {} };
  } else if (command !== 'list') {
    err(`unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }

  const admin = await openDeadLetterAdmin({
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    prefix: env.QUEUE_PREFIX || DEFAULT_QUEUE_PREFIX,
  });
  try {
    if (selection) {
      const reports = await replayDeadLetters(admin, selection);
      for (const report of reports) out(`${report.id}\t${report.outcome}`);
      const replayed = reports.filter((r) => r.outcome !== 'not-found').length;
      out(
        `${replayed} dead letter(s) replayed${reports.length > replayed ? `, ${reports.length - replayed} not found` : ''}`,
      );
      return reports.some((r) => r.outcome === 'not-found') ? 1 : 0;
    }
    const entries = await listDeadLetters(admin, reason ? { reason } : {});
    if (values.json) {
      out(JSON.stringify(entries, null, 2));
      return 0;
    }
    for (const { id, letter } of entries) {
      out(
        [
          id,
          letter.reason,
          letter.http ? `HTTP ${letter.http.status}` : '-',
          `attempts=${letter.attempts}`,
          letter.deadAt,
          letter.lastError,
        ].join('\t'),
      );
    }
    out(`${entries.length} dead letter(s)`);
    return 0;
  } finally {
    await admin.close();
  }
}
