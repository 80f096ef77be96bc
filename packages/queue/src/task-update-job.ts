import { createHash } from 'node:crypto';
import { z } from 'zod';
import { EXAMPLE_TASK_EVENT, IdempotencyKey, TaskEvent } from './task-event.js';
import { TicketPattern } from './ticket-pattern.js';

/** Where an event came from: a webhook source name (`events`) or an internal producer (`internal`). */
export const EventSource = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[a-z][a-z0-9-]*$/, 'must be lower-case letters, digits and "-"');
export type EventSource = z.infer<typeof EventSource>;

/**
 * The job data in `task-updates`, version 1. The worker validates it again because internal
 * producers write to the queue without going through the receiver (docs/contracts.md, "Queues").
 */
export const TaskUpdateJob = z.strictObject({
  v: z.literal(1),
  source: EventSource,
  idempotencyKey: IdempotencyKey,
  event: TaskEvent,
  receivedAt: z.iso.datetime({ offset: true }),
  /** How the worker recognises the task from the ticket, when the event carries no task ids (docs/matching.md). */
  match: z.strictObject({ ticketPattern: TicketPattern }).optional(),
});
export type TaskUpdateJob = z.infer<typeof TaskUpdateJob>;

/**
 * The job id: a deterministic function of source + idempotency key, so a redelivery maps to the
 * same job. BullMQ forbids `:` in custom ids and treats all-digit ids as its own counters
 * (docs/gitbook/guide/jobs/job-ids.md); a hash keeps any key within those rules and a fixed size,
 * and the source prefix keeps it readable in Bull Board. The key itself stays in the job data.
 */
export function jobIdFor(source: EventSource, idempotencyKey: string): string {
  const digest = createHash('sha256').update(`${source}\n${idempotencyKey}`).digest('hex').slice(0, 32);
  return `${source}-${digest}`;
}

/**
 * A valid job built from EXAMPLE_TASK_EVENT: one fixture for tests of the queue, the CLI and the
 * metrics. `locationId` undefined leaves `ghl.locationId` out (single-location mode).
 */
export function exampleTaskUpdateJob(idempotencyKey: string, locationId: string | undefined): TaskUpdateJob {
  const { locationId: _omitted, ...ghl } = EXAMPLE_TASK_EVENT.ghl;
  return {
    v: 1,
    source: 'events',
    idempotencyKey,
    event: { ...EXAMPLE_TASK_EVENT, ghl: locationId === undefined ? ghl : { ...ghl, locationId } },
    receivedAt: '2026-11-28T10:00:01.000Z',
  };
}
