import { createHash } from 'node:crypto';
import { GhlError, type GhlClient, type GhlResponse } from '@closeloop/ghl';
import { ticketMatcher, type DeadLetterMatch } from '@closeloop/queue';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from './logger.js';
import type { RateBudget } from './rate-budget.js';

/**
 * Finding the task of an event that names no task ids (docs/matching.md):
 *
 * - with the requester's email: `GET /contacts/search/duplicate` → that contact's tasks
 *   (`GET /contacts/{contactId}/tasks`, no paging exists for it: docs/ghl-api.md §1.3);
 * - with the ticket reference only: `POST /locations/{locationId}/tasks/search` with the reference as
 *   `query`, paged with `limit`/`skip` (locations.json `TaskSearchParamsDto`).
 *
 * Either way the task is the one whose title or body matches the source's ticket pattern, among the
 * tasks in the state the event changes (a close looks among open tasks, a reopen among completed ones).
 * Every GHL call takes one request from the location's budget first (shared with the PUT), and a
 * found task is cached briefly, so a close → reopen pair costs one lookup.
 */
export interface MatchRequest {
  locationId: string;
  /** The ticket reference to look for in task titles and bodies (`event.ticket.id`). */
  ticketRef: string;
  /** The requester's email: when given, the contact is looked up first and only its tasks searched. */
  email: string | undefined;
  /** What the event wants the task to be: a close looks among open tasks, a reopen among completed ones. */
  completed: boolean;
  /** The source's ticket pattern (packages/queue ticket-pattern.ts). */
  pattern: string;
  signal?: AbortSignal | undefined;
}

export type MatchResult =
  | { kind: 'found'; contactId: string; taskId: string; cached: boolean }
  | { kind: 'no-match'; match: DeadLetterMatch }
  | { kind: 'ambiguous'; match: DeadLetterMatch }
  /** The location's budget (shared with the PUT) is spent: try again after this long. */
  | { kind: 'rate-budget-spent'; msBeforeNext: number };

export interface TaskMatcher {
  /** GHL's errors (GhlError) are thrown as they come: the failure policy handles them like the PUT's. */
  resolve(request: MatchRequest): Promise<MatchResult>;
  /**
   * Drops the cached resolution of this request (same location, pattern, ticket and email), so the
   * next run looks the task up again. For a target that turned out wrong: the PUT answered 404.
   */
  forget(request: MatchRequest): Promise<void>;
}

export interface TaskMatcherDeps {
  /** The lookup calls findContactByEmail, listTasks and searchTasks. */
  ghl: GhlClient;
  budget: RateBudget;
  redis: Redis | Cluster;
  prefix: string;
  /** Debug lines about each lookup (they may carry emails and task titles); default: none. */
  logger?: Logger | undefined;
}

/**
 * How long a found task is remembered. Long enough for the usual bursts about one ticket — a close and
 * a reopen minutes apart, a helpdesk sending "solved" and then "closed", a job delayed by the budget
 * between its lookup and its PUT — to cost one lookup; short enough that a task re-titled or created
 * for the ticket afterwards is found within a quarter of an hour. A wrong target (404 on the PUT) is
 * dropped at once (`forget`).
 */
export const MATCH_CACHE_TTL_SECONDS = 15 * 60;

/** Tasks asked for per search page. GHL's default is 25 (locations.json `TaskSearchParamsDto.limit`). */
export const SEARCH_PAGE_SIZE = 100;

/**
 * Search pages read at most (1,000 tasks whose text GHL finds for the reference). Past that the
 * reference is too common to pick one task safely — e.g. a bare number that appears in many titles —
 * so the job is dead-lettered AMBIGUOUS_MATCH instead of spending more of the location's budget.
 */
export const MAX_SEARCH_PAGES = 10;

/** Candidates kept in an AMBIGUOUS_MATCH dead letter: enough to see the problem, never a huge letter. */
export const MAX_CANDIDATES = 20;

const ROUTE_BY_EMAIL = 'GET /contacts/search/duplicate + GET /contacts/{contactId}/tasks';
const ROUTE_CONTACT_ONLY = 'GET /contacts/search/duplicate';
const ROUTE_SEARCH = 'POST /locations/{locationId}/tasks/search';

/** A task the lookup considered, in one shape for both routes. */
interface Considered {
  taskId: string;
  contactId: string;
  title: string;
  body: string;
  completed: boolean;
}

type Searched = DeadLetterMatch['searched'];
type Candidate = NonNullable<DeadLetterMatch['candidates']>[number];

/** The Redis key of a cached resolution: a hash, so no email or ticket reference is readable in Redis. */
export function matchCacheKey(prefix: string, request: MatchRequest): string {
  return cacheKey(prefix, 'task', [
    request.locationId,
    request.pattern,
    request.ticketRef,
    // GHL's duplicate search ignores the email's case (docs/ghl-api.md §1.4), so the cache does too.
    request.email?.toLowerCase() ?? null,
  ]);
}

/**
 * The Redis key of a contact found by email. Kept apart from the task, so a job whose budget ran out
 * between the contact search and the task list does not search the contact again: without it, a
 * budget of fewer requests per window than a lookup makes would never let the job through.
 */
export function contactCacheKey(prefix: string, locationId: string, email: string): string {
  return cacheKey(prefix, 'contact', [locationId, email.toLowerCase()]);
}

function cacheKey(prefix: string, kind: 'task' | 'contact', identity: Array<string | null>): string {
  const digest = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 40);
  return `${prefix}:task-match:${kind}:${digest}`;
}

export function createTaskMatcher(deps: TaskMatcherDeps): TaskMatcher {
  const { ghl, budget, redis, prefix, logger } = deps;

  async function readCache(key: string): Promise<{ contactId: string; taskId?: string } | undefined> {
    const raw = await redis.get(key);
    if (raw === null) return undefined;
    try {
      const value = JSON.parse(raw) as { contactId?: unknown; taskId?: unknown };
      if (typeof value.contactId === 'string') {
        return {
          contactId: value.contactId,
          ...(typeof value.taskId === 'string' && { taskId: value.taskId }),
        };
      }
    } catch {
      // Not ours (or from a future version): looked up again and overwritten.
    }
    return undefined;
  }

  async function writeCache(key: string, value: { contactId: string; taskId?: string }): Promise<void> {
    await redis.set(key, JSON.stringify(value), 'EX', MATCH_CACHE_TTL_SECONDS);
  }

  /** The contact of the email: cached, or found with one request from the budget. */
  async function contactOf(
    request: MatchRequest,
    email: string,
  ): Promise<{ contactId: string | undefined } | Extract<MatchResult, { kind: 'rate-budget-spent' }>> {
    const key = contactCacheKey(prefix, request.locationId, email);
    const cached = await readCache(key);
    if (cached) return { contactId: cached.contactId };
    const spent = await spend(request.locationId);
    if (spent) return spent;
    const contact = await observed(request.locationId, () =>
      ghl.findContactByEmail({ locationId: request.locationId, email, signal: request.signal }),
    );
    if (contact.data === null) return { contactId: undefined };
    await writeCache(key, { contactId: contact.data.id });
    return { contactId: contact.data.id };
  }

  /**
   * A lookup's answer tells the budget what GHL counts, as the PUT's does (rate-budget.ts observe):
   * the lookups spend the same budget. Best effort: a Redis error here must not fail the lookup.
   */
  async function observed<T>(
    locationId: string,
    send: () => Promise<GhlResponse<T>>,
  ): Promise<GhlResponse<T>> {
    let rateLimit: GhlResponse<T>['rateLimit'] | undefined;
    let status: number | undefined;
    try {
      const response = await send();
      ({ rateLimit, status } = response);
      return response;
    } catch (error) {
      if (error instanceof GhlError) ({ rateLimit, status } = error);
      throw error;
    } finally {
      if (rateLimit) {
        await budget.observe(locationId, rateLimit, status).catch((error: unknown) => {
          logger?.warn({ err: error, locationId }, 'could not record GHL rate-limit headers');
        });
      }
    }
  }

  /** One request from the location's budget before each GHL call; undefined when it was granted. */
  async function spend(
    locationId: string,
  ): Promise<Extract<MatchResult, { kind: 'rate-budget-spent' }> | undefined> {
    const take = await budget.take(locationId);
    return take.ok ? undefined : { kind: 'rate-budget-spent', msBeforeNext: take.msBeforeNext };
  }

  async function byEmail(request: MatchRequest, email: string): Promise<MatchResult> {
    const searched: Searched = base(request, ROUTE_CONTACT_ONLY);
    searched.email = email;
    const contact = await contactOf(request, email);
    if ('kind' in contact) return contact;
    const { contactId } = contact;
    if (contactId === undefined) {
      logger?.debug({ locationId: request.locationId, email }, 'task lookup: no contact has this email');
      return { kind: 'no-match', match: { searched } };
    }
    searched.contactId = contactId;
    searched.route = ROUTE_BY_EMAIL;
    const spentOnTasks = await spend(request.locationId);
    if (spentOnTasks) return spentOnTasks;
    const tasks = await observed(request.locationId, () =>
      ghl.listTasks({ locationId: request.locationId, contactId, signal: request.signal }),
    );
    const considered = tasks.data.map((task) => ({
      taskId: task.id,
      // The route is the contact's, so its tasks are the contact's even where GHL leaves contactId out.
      contactId: task.contactId ?? contactId,
      title: task.title ?? '',
      body: task.body ?? '',
      completed: task.completed,
    }));
    return choose(request, considered, searched, false);
  }

  async function bySearch(request: MatchRequest): Promise<MatchResult> {
    const considered: Considered[] = [];
    let withoutContact = 0;
    let truncated = false;
    for (let page = 0; ; page += 1) {
      if (page === MAX_SEARCH_PAGES) {
        truncated = true;
        break;
      }
      const spent = await spend(request.locationId);
      if (spent) return spent;
      const response = await observed(request.locationId, () =>
        ghl.searchTasks({
          locationId: request.locationId,
          query: request.ticketRef,
          limit: SEARCH_PAGE_SIZE,
          skip: page * SEARCH_PAGE_SIZE,
          signal: request.signal,
        }),
      );
      for (const task of response.data) {
        // The PUT's path needs the contact; a task without one (GHL allows tasks on no contact) cannot
        // be completed through the contacts routes, so it is no candidate (docs/matching.md).
        if (task.contactId === null || task.contactId === undefined || task.contactId === '') {
          withoutContact += 1;
          continue;
        }
        considered.push({
          taskId: task.id,
          contactId: task.contactId,
          title: task.title ?? '',
          body: task.body ?? '',
          completed: task.completed,
        });
      }
      // A short page is the last one (GHL's search answers with no total count).
      if (response.data.length < SEARCH_PAGE_SIZE) break;
    }
    const route = truncated
      ? `${ROUTE_SEARCH} (stopped after ${MAX_SEARCH_PAGES} pages of ${SEARCH_PAGE_SIZE}: too many tasks mention the ticket)`
      : ROUTE_SEARCH;
    if (withoutContact > 0) {
      logger?.debug(
        { locationId: request.locationId, withoutContact },
        'task lookup: search results without a contact skipped',
      );
    }
    return choose(request, considered, base(request, route), truncated);
  }

  function choose(
    request: MatchRequest,
    tasks: Considered[],
    searched: Searched,
    truncated: boolean,
  ): MatchResult {
    const references = ticketMatcher(request.pattern, request.ticketRef);
    const matching = tasks.filter((task) => references.test(task.title) || references.test(task.body));
    // A close changes an open task, a reopen a completed one.
    const toChange = matching.filter((task) => task.completed !== request.completed);
    const alreadyThere = matching.filter((task) => task.completed === request.completed);
    logger?.debug(
      {
        locationId: request.locationId,
        ticket: request.ticketRef,
        considered: tasks.length,
        matching: matching.map((task) => ({
          taskId: task.taskId,
          title: task.title,
          completed: task.completed,
        })),
        truncated,
      },
      'task lookup: tasks referencing the ticket',
    );
    if (truncated) {
      // More results exist than were read: one candidate among those read may not be the only one.
      return {
        kind: 'ambiguous',
        match: withCandidates(searched, toChange.length > 0 ? toChange : matching),
      };
    }
    const [only] = toChange;
    if (only && toChange.length === 1) return found(only);
    if (toChange.length > 1) return { kind: 'ambiguous', match: withCandidates(searched, toChange) };
    // Nothing left to change, but exactly one task already in the wanted state: e.g. Zendesk sends
    // "solved" and later "closed" for one ticket. The PUT is idempotent (docs/ghl-api.md §1.2), so
    // it is sent, and the job completes like any other.
    const [done] = alreadyThere;
    if (done && alreadyThere.length === 1) return found(done);
    // None at all, or several already in the wanted state (listed, so the operator sees why).
    return { kind: 'no-match', match: withCandidates(searched, alreadyThere) };
  }

  function found(task: Considered): MatchResult {
    return { kind: 'found', contactId: task.contactId, taskId: task.taskId, cached: false };
  }

  return {
    async resolve(request) {
      const key = matchCacheKey(prefix, request);
      const cached = await readCache(key);
      if (cached?.taskId !== undefined) {
        const target = { contactId: cached.contactId, taskId: cached.taskId };
        logger?.debug(
          { locationId: request.locationId, ticket: request.ticketRef, ...target },
          'task lookup: cached',
        );
        return { kind: 'found', ...target, cached: true };
      }
      const result =
        request.email === undefined ? await bySearch(request) : await byEmail(request, request.email);
      // Only a found task: a NO_MATCH may be answered by a task created a moment later.
      if (result.kind === 'found')
        await writeCache(key, { contactId: result.contactId, taskId: result.taskId });
      return result;
    },
    async forget(request) {
      const keys = [matchCacheKey(prefix, request)];
      // A 404 may mean the contact is gone as well (GHL answers 404 for an unknown contact).
      if (request.email !== undefined) keys.push(contactCacheKey(prefix, request.locationId, request.email));
      await redis.del(...keys);
    },
  };
}

function base(request: MatchRequest, route: string): Searched {
  return {
    locationId: request.locationId,
    ticket: request.ticketRef,
    pattern: request.pattern,
    completed: !request.completed,
    route,
  };
}

function withCandidates(searched: Searched, tasks: Considered[]): DeadLetterMatch {
  if (tasks.length === 0) return { searched };
  const candidates: Candidate[] = tasks.slice(0, MAX_CANDIDATES).map((task) => ({
    taskId: task.taskId,
    contactId: task.contactId,
    title: task.title,
    completed: task.completed,
  }));
  return { searched, candidates };
}
