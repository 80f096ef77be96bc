import type { DeadLetterMatch } from '@closeloop/queue';

/**
 * Finding the task of an event that names no task ids (docs/matching.md). IMPLEMENTATION PENDING:
 * createTaskMatcher is written in this file.
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
}

export interface TaskMatcherDeps {
  ghl: import('@closeloop/ghl').GhlClient;
  budget: import('./rate-budget.js').RateBudget;
  redis: import('ioredis').Redis;
  prefix: string;
}

export function createTaskMatcher(_deps: TaskMatcherDeps): TaskMatcher {
  return {
    resolve() {
      return Promise.reject(new Error('task matching: not written yet'));
    },
  };
}
