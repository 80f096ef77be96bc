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

/**
 * Where the task is. Either both ids are given (the event names its task, as internal producers and
 * templated helpdesk bodies do), or neither, and the worker finds the task from `ticket` and
 * `requester` (docs/matching.md). `locationId` may be omitted in single-location mode.
 */
export const GhlTarget = z
  .strictObject({
    locationId: GhlId.optional(),
    contactId: GhlId.optional(),
    taskId: GhlId.optional(),
  })
  .superRefine((ghl, context) => {
    if ((ghl.contactId === undefined) === (ghl.taskId === undefined)) return;
    context.addIssue({
      code: 'custom',
      path: [ghl.contactId === undefined ? 'contactId' : 'taskId'],
      message: 'give both contactId and taskId, or neither (the task is then found from the ticket)',
    });
  });
export type GhlTarget = z.infer<typeof GhlTarget>;

export const TicketRef = z.strictObject({
  id: z.string().min(1).max(256),
  url: z.url().max(2048).optional(),
});

/** The requester of the ticket: with an email the worker looks the contact up (docs/matching.md). */
export const Requester = z.strictObject({ email: z.email().max(320) });

const TaskEventFields = {
  type: TaskEventType,
  occurredAt: z.iso.datetime({ offset: true }),
  ticket: TicketRef.optional(),
  requester: Requester.optional(),
  ghl: GhlTarget.optional(),
};

/** An event without task ids must carry the ticket it is about: that is what the worker searches for. */
function requireTaskOrTicket(
  event: { ghl?: GhlTarget | undefined; ticket?: unknown },
  context: z.RefinementCtx,
): void {
  if (event.ghl?.taskId === undefined && event.ticket === undefined) {
    context.addIssue({
      code: 'custom',
      path: ['ticket'],
      message: 'an event without ghl.contactId and ghl.taskId needs ticket.id to find its task',
    });
  }
}

/** The body of POST /webhooks/events (docs/contracts.md, "HTTP"). Strict: unknown fields are refused. */
export const TaskEvent = z.strictObject(TaskEventFields).superRefine(requireTaskOrTicket);
export type TaskEvent = z.infer<typeof TaskEvent>;

/** An event whose task ids are known: no lookup needed. */
export function taskIdsOf(event: TaskEvent): { contactId: string; taskId: string } | undefined {
  const contactId = event.ghl?.contactId;
  const taskId = event.ghl?.taskId;
  return contactId !== undefined && taskId !== undefined ? { contactId, taskId } : undefined;
}

export const IdempotencyKey = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** The body of POST /v1/task-updates: the same event plus the producer's idempotency key. */
export const InternalTaskUpdateRequest = z
  .strictObject({ ...TaskEventFields, idempotencyKey: IdempotencyKey })
  .superRefine(requireTaskOrTicket);
export type InternalTaskUpdateRequest = z.infer<typeof InternalTaskUpdateRequest>;

/** `ticket.closed` completes the task; `ticket.reopened` reopens it (docs/architecture.md). */
export function completedFor(type: TaskEventType): boolean {
  return type === 'ticket.closed';
}

/**
 * The example event of docs/contracts.md ("HTTP"), valid against `TaskEvent`: one shared fixture for tests,
 * benchmarks and documentation, so they cannot drift from each other or from the schema.
 */
export const EXAMPLE_TASK_EVENT: TaskEvent & {
  ghl: { locationId: string; contactId: string; taskId: string };
} = {
  type: 'ticket.closed',
  occurredAt: '2026-11-28T10:00:00.000Z',
  ticket: { id: 'ZD-4711', url: 'https://helpdesk.example.com/tickets/4711' },
  ghl: {
    locationId: 've9EPM428h8vShlRW1KT',
    contactId: 'sx6wyHhbFdRXh302LLNR',
    taskId: 'ocQHyuzHvysMo5N5VsXc',
  },
};
