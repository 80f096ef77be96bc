import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { recordExitCode, type CliContext } from './context.js';
import { loadQueueSettings } from './env.js';
import { EXIT, usageError, type ExitCode } from './errors.js';
import { createOutput } from './output.js';
import { connectProducer, loadQueueLibrary } from './redis.js';

/**
 * The source of events enqueued by hand. Its own source, not `internal`: job ids are a function of
 * source + key (packages/queue/src/task-update-job.ts), so an operator's key can never collide with
 * a key an internal producer used, and Bull Board shows hand-made jobs as `cli-…`.
 */
export const CLI_EVENT_SOURCE = 'cli';

interface EnqueueOptions {
  type: string;
  contact: string;
  task: string;
  location?: string;
  key?: string;
  ticket?: string;
  occurredAt?: string;
  json?: boolean;
}

/** `closeloop enqueue`: one task update, with the receiver's validation and idempotency. */
export function registerEnqueueCommand(program: Command, context: CliContext): void {
  program
    .command('enqueue')
    .description(
      'enqueue one task update, validated and deduplicated like POST /v1/task-updates; answers {jobId, duplicate}',
    )
    .requiredOption('--type <type>', 'closed | reopened (or ticket.closed | ticket.reopened)')
    .requiredOption('--contact <contactId>', 'GHL contact id')
    .requiredOption('--task <taskId>', 'GHL task id')
    .option('--location <locationId>', 'GHL location id (leave out in single-location mode)')
    .option(
      '--key <idempotencyKey>',
      'idempotency key; the same key within 72 h is a duplicate (default: a new one, printed)',
    )
    .option('--ticket <ticketId>', 'the ticket this event comes from')
    .option('--occurred-at <time>', 'when the ticket changed, ISO 8601 (default: now)')
    .option('--json', 'print {jobId, duplicate, idempotencyKey} as JSON')
    .action(recordExitCode(context, (options: EnqueueOptions) => enqueueCommand(context, options)));
}

async function enqueueCommand(context: CliContext, options: EnqueueOptions): Promise<ExitCode> {
  const { InternalTaskUpdateRequest, enqueueTaskUpdate } = await loadQueueLibrary();
  const output = createOutput(context.io, options.json === true);
  const request = InternalTaskUpdateRequest.safeParse({
    type: ['closed', 'reopened'].includes(options.type) ? `ticket.${options.type}` : options.type,
    occurredAt: options.occurredAt ?? new Date().toISOString(),
    ...(options.ticket !== undefined && { ticket: { id: options.ticket } }),
    ghl: {
      ...(options.location !== undefined && { locationId: options.location }),
      contactId: options.contact,
      taskId: options.task,
    },
    idempotencyKey: options.key ?? randomUUID(),
  });
  if (!request.success) {
    // The receiver's INVALID_BODY issues, with the command's option names beside the event's paths.
    throw usageError(
      [
        'enqueue: invalid event, nothing enqueued',
        ...request.error.issues.map((issue) => `  - ${optionFor(issue.path.join('.'))}: ${issue.message}`),
      ].join('\n'),
    );
  }
  const { idempotencyKey, ...event } = request.data;
  const producer = await connectProducer(await loadQueueSettings(context.io.env));
  try {
    const result = await enqueueTaskUpdate(producer, { source: CLI_EVENT_SOURCE, idempotencyKey, event });
    if (output.isJson) output.printJson({ ...result, idempotencyKey });
    else if (result.duplicate) {
      output.line(
        `duplicate: key "${idempotencyKey}" was enqueued within 72 h as job ${result.jobId}; nothing changed`,
      );
    } else output.line(`enqueued job ${result.jobId} (idempotency key "${idempotencyKey}")`);
    return EXIT.ok;
  } finally {
    await producer.close();
  }
}

const OPTION_FOR_PATH: Record<string, string> = {
  type: '--type',
  occurredAt: '--occurred-at',
  'ticket.id': '--ticket',
  'ghl.locationId': '--location',
  'ghl.contactId': '--contact',
  'ghl.taskId': '--task',
  idempotencyKey: '--key',
};

function optionFor(path: string): string {
  const option = OPTION_FOR_PATH[path];
  return option ? `${option} (${path})` : path;
}
