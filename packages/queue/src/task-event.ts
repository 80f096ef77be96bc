import { z } from 'zod';

/**
 * GHL ids are 20-character alphanumerics (e.g. "ocQHyuzHvysMo5N5VsXc"); we accept a little wider
 * but never characters that could change the shape of the URL path they end up in.
 */
export const GhlId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'must contain only letters, digits, "_" and "-"');

export const TaskEventType = z.enum(['ticket.closed', 'ticket.reopened']);
export type TaskEventType = z.infer<typeof TaskEventType>;

/** The body of POST /webhooks/events (docs/contracts.md, "HTTP"). Strict: unknown fields are refused. */
export const TaskEvent = z.strictObject({
  type: TaskEventType,
  occurredAt: z.iso.datetime({ offset: true }),
  ticket: z
    .strictObject({
      id: z.string().min(1).max(256),
      url: z.url().max(2048).optional(),
    })
    .optional(),
  ghl: z.strictObject({
    locationId: GhlId.optional(),
    contactId: GhlId,
    taskId: GhlId,
  }),
});
export type TaskEvent = z.infer<typeof TaskEvent>;

export const IdempotencyKey = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** The body of POST /v1/task-updates: the same event plus the producer's idempotency key. */
export const InternalTaskUpdateRequest = TaskEvent.extend({ idempotencyKey: IdempotencyKey });
export type InternalTaskUpdateRequest = z.infer<typeof InternalTaskUpdateRequest>;

/** `ticket.closed` completes the task; `ticket.reopened` reopens it (docs/architecture.md). */
export function completedFor(type: TaskEventType): boolean {
  return type === 'ticket.closed';
}

/**
 * The example event of docs/contracts.md ("HTTP"), valid against `TaskEvent`: one shared fixture for tests,
 * benchmarks and documentation, so they cannot drift from each other or from the schema.
 */
export const EXAMPLE_TASK_EVENT: TaskEvent = {
  type: 'ticket.closed',
  occurredAt: '2026-11-28T10:00:00.000Z',
  ticket: { id: 'ZD-4711', url: 'https://helpdesk.example.com/tickets/4711' },
  ghl: {
    locationId: 've9EPM428h8vShlRW1KT',
    contactId: 'sx6wyHhbFdRXh302LLNR',
    taskId: 'ocQHyuzHvysMo5N5VsXc',
  },
};
