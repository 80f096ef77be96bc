import type { SandboxContact, SandboxTask } from './schemas.js';

/**
 * `POST /locations/{locationId}/tasks/search` (locations.json `task-search`, body `TaskSearchParamsDto`):
 * validation as GHL's NestJS DTOs do it, the filters, the order and the paging. What is confirmed and
 * what is the sandbox's own choice is in docs/ghl-api.md §1.5.
 */

/** Default page size (`limit.default` in TaskSearchParamsDto). */
export const TASK_SEARCH_DEFAULT_LIMIT = 25;
/**
 * Largest page accepted. The document gives no maximum; `limit: 500` is reported to return 500 rows
 * (docs/ghl-api.md §1.5), nothing is known beyond it, so the sandbox refuses more rather than invent
 * a silent cap that a caller could mistake for the last page.
 */
export const TASK_SEARCH_MAX_LIMIT = 500;

/** The position of a task in the search order; echoed per task as `searchAfter` (reported cursor). */
export type SearchKey = [number, string];

export interface TaskSearch {
  contactIds: ReadonlySet<string> | undefined;
  completed: boolean | undefined;
  assignedTo: ReadonlySet<string> | undefined;
  /** Lower-cased; undefined or '' = no text filter. */
  query: string | undefined;
  businessId: string | undefined;
  limit: number;
  skip: number;
  searchAfter: SearchKey | undefined;
}

/** The DTO's properties plus `searchAfter`, which the real API is reported to accept (§1.5). */
const KNOWN_PROPERTIES = new Set([
  'contactId',
  'completed',
  'assignedTo',
  'query',
  'limit',
  'skip',
  'businessId',
  'searchAfter',
]);

type Parsed = { ok: true; search: TaskSearch } | { ok: false; messages: string[] };

/**
 * class-validator with `forbidNonWhitelisted`, as GHL's DTOs behave (docs/ghl-api.md §6): every problem
 * is listed, unknown properties first, with class-validator's wording.
 */
export function parseTaskSearch(value: unknown): Parsed {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, messages: ['an object was expected as the request body'] };
  }
  const body = value as Record<string, unknown>;
  const messages: string[] = [];
  for (const key of Object.keys(body)) {
    if (!KNOWN_PROPERTIES.has(key)) messages.push(`property ${key} should not exist`);
  }
  const stringList = (name: string): ReadonlySet<string> | undefined => {
    const item = body[name];
    if (item === undefined) return undefined;
    if (!Array.isArray(item)) {
      messages.push(`${name} must be an array`);
      return undefined;
    }
    if (!item.every((entry) => typeof entry === 'string')) {
      messages.push(`each value in ${name} must be a string`);
      return undefined;
    }
    return new Set(item);
  };
  const text = (name: string): string | undefined => {
    const item = body[name];
    if (item === undefined) return undefined;
    if (typeof item !== 'string') {
      messages.push(`${name} must be a string`);
      return undefined;
    }
    return item;
  };
  const integer = (name: string, min: number, max: number | undefined): number | undefined => {
    const item = body[name];
    if (item === undefined) return undefined;
    if (typeof item !== 'number' || !Number.isInteger(item)) {
      messages.push(`${name} must be an integer number`);
      return undefined;
    }
    if (item < min) {
      messages.push(`${name} must not be less than ${min}`);
      return undefined;
    }
    if (max !== undefined && item > max) {
      messages.push(`${name} must not be greater than ${max}`);
      return undefined;
    }
    return item;
  };

  const contactIds = stringList('contactId');
  let completed: boolean | undefined;
  if (body.completed !== undefined) {
    if (typeof body.completed === 'boolean') completed = body.completed;
    else messages.push('completed must be a boolean value');
  }
  const assignedTo = stringList('assignedTo');
  const query = text('query');
  const limit = integer('limit', 1, TASK_SEARCH_MAX_LIMIT);
  const skip = integer('skip', 0, undefined);
  const businessId = text('businessId');
  let searchAfter: SearchKey | undefined;
  if (body.searchAfter !== undefined) {
    const cursor = body.searchAfter;
    if (
      Array.isArray(cursor) &&
      cursor.length === 2 &&
      typeof cursor[0] === 'number' &&
      typeof cursor[1] === 'string'
    ) {
      searchAfter = [cursor[0], cursor[1]];
    } else {
      messages.push('searchAfter must be the searchAfter array of a task from a previous answer');
    }
  }
  if (messages.length > 0) return { ok: false, messages };
  return {
    ok: true,
    search: {
      contactIds,
      completed,
      assignedTo,
      query: query?.toLowerCase(),
      businessId,
      limit: limit ?? TASK_SEARCH_DEFAULT_LIMIT,
      skip: skip ?? 0,
      searchAfter,
    },
  };
}

/** A task without a due date sorts after every dated one. */
const NO_DUE_DATE = Number.MAX_SAFE_INTEGER;

export function searchKey(task: SandboxTask): SearchKey {
  const due = task.dueDate === undefined ? Number.NaN : Date.parse(task.dueDate);
  return [Number.isNaN(due) ? NO_DUE_DATE : due, task.id];
}

function compareKeys(a: SearchKey, b: SearchKey): number {
  if (a[0] !== b[0]) return a[0] < b[0] ? -1 : 1;
  if (a[1] === b[1]) return 0;
  return a[1] < b[1] ? -1 : 1;
}

function matches(task: SandboxTask, search: TaskSearch): boolean {
  // An empty list filters nothing (`contactId: []` is read as "not given"): unconfirmed, §1.5.
  if (
    search.contactIds !== undefined &&
    search.contactIds.size > 0 &&
    !search.contactIds.has(task.contactId)
  ) {
    return false;
  }
  if (search.completed !== undefined && task.completed !== search.completed) return false;
  if (search.assignedTo !== undefined && search.assignedTo.size > 0) {
    if (task.assignedTo === undefined || !search.assignedTo.has(task.assignedTo)) return false;
  }
  // Sandbox tasks belong to no business, so a business filter matches none of them.
  if (search.businessId !== undefined) return false;
  // The stricter reading (§1.5): the title only, case-insensitive substring; the body is not searched.
  if (search.query !== undefined && search.query !== '' && !task.title.toLowerCase().includes(search.query)) {
    return false;
  }
  return true;
}

/**
 * One page: filter, order by due date then id (stable whatever the insertion order), start after
 * `searchAfter` when given, then skip and limit.
 */
export function searchTasks(tasks: readonly SandboxTask[], search: TaskSearch): SandboxTask[] {
  let keyed = tasks.filter((task) => matches(task, search)).map((task) => ({ task, key: searchKey(task) }));
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  const after = search.searchAfter;
  if (after !== undefined) keyed = keyed.filter((entry) => compareKeys(entry.key, after) > 0);
  return keyed.slice(search.skip, search.skip + search.limit).map((entry) => entry.task);
}

/**
 * A task as the search returns it (docs/ghl-api.md §1.5, reported): `_id` instead of `id`, plus
 * `locationId`, `deleted`, `dateAdded`, `dateUpdated`, `contactDetails` and the task's `searchAfter`.
 */
export function toSearchedTask(
  task: SandboxTask,
  contact: SandboxContact | undefined,
  dateAdded: string,
): Record<string, unknown> {
  return {
    _id: task.id,
    title: task.title,
    body: task.body,
    assignedTo: task.assignedTo,
    dueDate: task.dueDate,
    completed: task.completed,
    contactId: task.contactId,
    locationId: task.locationId,
    deleted: false,
    dateAdded,
    dateUpdated: task.updatedAt ?? dateAdded,
    contactDetails: {
      _id: task.contactId,
      firstName: contact?.firstName ?? null,
      lastName: contact?.lastName ?? null,
    },
    searchAfter: searchKey(task),
  };
}
