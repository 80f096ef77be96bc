import { z } from 'zod';

/**
 * Optional string fields accept null as well as absence: GHL's schemas declare no `nullable`, but its
 * JSON (like that of most Mongo-backed Nest APIs) sends `null` for empty fields such as `assignedTo`,
 * and rejecting a completed task's answer over an empty assignee would dead-letter a success.
 */
const optionalText = z.string().nullish();

/**
 * A contact task (contacts.json `TaskSchema`). The spec makes every field optional; `id` and
 * `completed` are required here because the worker records the task state GHL returned (docs/failure-policy.md)
 * and cannot do that without them. Loose: fields GHL adds later pass through untouched.
 */
export const Task = z.looseObject({
  id: z.string().min(1),
  completed: z.boolean(),
  contactId: optionalText,
  title: optionalText,
  body: optionalText,
  assignedTo: optionalText,
  dueDate: optionalText,
});
export type Task = z.infer<typeof Task>;

/** `TaskByIsSuccessfulResponseDto`: the 200 of get-task and update-task-completed. */
export const TaskResponse = z.looseObject({ task: Task });
export type TaskResponse = z.infer<typeof TaskResponse>;

/** `TasksListSuccessfulResponseDto`: the 200 of get-all-tasks. */
export const TaskListResponse = z.looseObject({ tasks: z.array(Task) });
export type TaskListResponse = z.infer<typeof TaskListResponse>;

/**
 * The fields of a contact (contacts.json `ContactsByIdSuccessfulResponseDto` / `ContactsSearchSchema`)
 * the worker can use to resolve a task's target; everything else passes through.
 */
export const Contact = z.looseObject({
  id: z.string().min(1),
  locationId: optionalText,
  email: optionalText,
  firstName: optionalText,
  lastName: optionalText,
  name: optionalText,
  phone: optionalText,
});
export type Contact = z.infer<typeof Contact>;

/**
 * The 200 of get-duplicate-contact has no schema in the spec; third-party code reads
 * `{contact: {...}}` with a missing or null `contact` meaning "no such contact" (docs/ghl-api.md §1.4).
 */
export const DuplicateContactResponse = z.looseObject({ contact: Contact.nullish() });
export type DuplicateContactResponse = z.infer<typeof DuplicateContactResponse>;

/**
 * A task as the location-wide task search returns it (locations.json `task-search`). The document's
 * response schema is unusable (`tasks: {type: array, items: {type: array}}`); what the real API sends
 * is written down in docs/ghl-api.md §1.5: task objects whose id may come as `_id` (the Mongo/Elastic
 * document id) rather than `id`. Both are accepted and `id` is always set here. Loose otherwise: the
 * answer also carries fields such as `contactDetails`, `assignedToUserDetails`, `searchAfter` that the
 * shape of may change.
 */
export const SearchedTask = z.preprocess(
  (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const record = value as Record<string, unknown>;
    return record.id === undefined && typeof record._id === 'string' ? { ...record, id: record._id } : value;
  },
  z.looseObject({
    id: z.string().min(1),
    completed: z.boolean(),
    contactId: optionalText,
    title: optionalText,
    body: optionalText,
  }),
);
export type SearchedTask = z.infer<typeof SearchedTask>;

/** The 200 of task-search: `{tasks: [...]}`; other top-level fields (e.g. a count) pass through. */
export const TaskSearchResponse = z.looseObject({ tasks: z.array(SearchedTask) });
export type TaskSearchResponse = z.infer<typeof TaskSearchResponse>;
