import { setTimeout as delay } from 'node:timers/promises';
import { GhlError, type GhlClient, type GhlResponse, type Task } from '@closeloop/ghl';
import {
  DEFAULT_TICKET_PATTERN,
  TaskUpdateJob,
  clearDeadLetterAfterSuccess,
  completedFor,
  taskIdsOf,
  type DeadLetterStore,
} from '@closeloop/queue';
import type { WorkerConfig } from './config.js';
import type { DecisionExecutor, Failure, JobRun, TaskJob, TaskUpdateResult } from './decision-executor.js';
import { MAX_STALLS, decide, type Outcome, type PolicyContext } from './failure-policy.js';
import type { Logger } from './logger.js';
import { SHORT_WAIT_MS, type BudgetTake, type RateBudget } from './rate-budget.js';
import type { MatchRequest, TaskMatcher } from './task-matcher.js';
import { orderKeyFor, type OrderKey, type TaskOrderGuard } from './task-order-guard.js';

export interface ProcessorDeps {
  config: WorkerConfig;
  ghl: GhlClient;
  store: DeadLetterStore;
  guard: TaskOrderGuard;
  budget: RateBudget;
  matcher: TaskMatcher;
  executor: DecisionExecutor;
  logger: Logger;
  random: () => number;
  /** Aborted by the task worker on a forced shutdown: cuts the GHL calls in flight. */
  signal?: AbortSignal;
  /**
   * Brings a job waiting for its location's call-in-flight place back now (task-worker.ts), as long
   * as `stillWaiting` (it still holds the place it was handed: it may have reserved a slot instead);
   * false when the job is gone, so the place goes to the next waiter. Without it, waiters come back on their
   * own after their estimated turn.
   */
  wakeWaiter?: (jobId: string, stillWaiting: () => Promise<boolean>) => Promise<boolean>;
}

export type TaskProcessor = (job: TaskJob, token?: string) => Promise<TaskUpdateResult>;

/** A job that can be sent: its event, resolved to a location, and the ids of the task. */
interface Target {
  data: TaskUpdateJob;
  locationId: string;
  contactId: string;
  taskId: string;
  order: OrderKey;
  /** Set when the task was found by lookup (task-matcher.ts): a 404 on it drops the cached match. */
  matchRequest?: MatchRequest;
}

/** A parsed job whose task may still have to be found (no ids in the event). */
interface Located {
  data: TaskUpdateJob;
  locationId: string;
  ids: { contactId: string; taskId: string } | undefined;
  jobId: string;
}

/** Why a step stops the job; the failure policy turns it into a decision. */
type Stop = { outcome: Exclude<Outcome, { kind: 'success' }>; failure: Failure };
type Step<T> = { ok: true; value: T } | ({ ok: false } & Stop);

/**
 * The per-job logic, in the order it happens: parse → guard → budget → call → commit. Each step is
 * one function below; a step that stops the job hands its outcome to the failure policy, and the
 * executor carries out the decision. Exported so tests can run it on a job fetched by hand.
 */
export function createTaskProcessor(deps: ProcessorDeps): TaskProcessor {
  const { executor } = deps;
  const stop = (run: JobRun, stopped: Stop): Promise<never> => {
    const decision = decide(stopped.outcome, policyContext(run.job, deps));
    if (decision.kind === 'done') throw new Error(`the policy answered done to ${stopped.outcome.kind}`);
    return executor.carryOut(run, decision, stopped.failure);
  };

  return async (job, token) => {
    if (job.id === undefined) throw new Error('BullMQ handed over a job without an id');
    const run: JobRun = { job, jobId: job.id, token, locationId: undefined, startedAt: Date.now() };

    const parsed = parse(job, deps);
    if (!parsed.ok) return stop(run, parsed);
    run.locationId = parsed.value.locationId;
    let resolved: Step<Target>;
    try {
      resolved = await resolve(parsed.value, deps);
    } catch (error) {
      resolved = { ok: false, outcome: { kind: 'failed', error }, failure: { error } };
    }
    if (!resolved.ok) return stop(run, resolved);
    const target = resolved.value;
    deps.logger.debug(
      {
        jobId: run.jobId,
        locationId: target.locationId,
        type: target.data.event.type,
        ticket: target.data.event.ticket,
        contactId: target.contactId,
        taskId: target.taskId,
      },
      'job started',
    );

    const guarded = await guard(target, run, deps);
    if (!guarded.ok) return stop(run, guarded);
    if (guarded.value !== 'go') return executor.completed(run, guarded.value);

    let committed = false;
    let fenceMs = 0;
    let stopped: Stop;
    try {
      const budget = await takeBudget(target, run.jobId, deps);
      if (!budget.ok) {
        stopped = budget;
      } else {
        let response: GhlResponse<Task>;
        let callMs: number | undefined;
        try {
          const sentAt = Date.now();
          try {
            response = await call(target, deps);
          } finally {
            callMs = Date.now() - sentAt;
          }
        } catch (error) {
          await releaseInflight(target.locationId, run.jobId, deps);
          if (error instanceof GhlError)
            await observe(target.locationId, error.rateLimit, error.status, run.jobId, callMs, deps);
          // GHL may still apply a PUT whose outcome we did not learn: fence the task (task-order-guard.ts).
          if (isAmbiguous(error)) fenceMs = deps.config.ambiguousHoldMs;
          // A cached match whose task is gone: the next run (a replay) looks again.
          if (target.matchRequest && error instanceof GhlError && error.code === 'NOT_FOUND') {
            await deps.matcher.forget(target.matchRequest);
          }
          throw error;
        }
        // Three independent writes after the answer, sent together: one round trip's wait, not three
        // (each waited on its own costs a busy worker a few ms per job, `pnpm bench worker`). Redis
        // runs them in this order on the one connection, so the budget has the answer before the
        // released place goes to a waiter. observe and releaseInflight never reject.
        const [, , result] = await Promise.all([
          observe(target.locationId, response.rateLimit, response.status, run.jobId, callMs, deps),
          releaseInflight(target.locationId, run.jobId, deps),
          commit(target, response, run, deps),
        ]);
        committed = true;
        return executor.completed(run, result);
      }
    } catch (error) {
      stopped = { outcome: { kind: 'failed', error }, failure: { error } };
    } finally {
      if (!committed) await deps.guard.release(target.taskId, run.jobId, fenceMs);
    }
    return stop(run, stopped);
  };
}

/** parse: a v1 job the worker may run (data, stall count, a location to take the token from). */
function parse(job: TaskJob, deps: ProcessorDeps): Step<Located> {
  const parsed = TaskUpdateJob.safeParse(job.data);
  if (!parsed.success) {
    // zod's paths and messages only: the values may be personal data.
    const message = parsed.error.issues
      .slice(0, 10)
      .map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    return {
      ok: false,
      outcome: { kind: 'invalid-job', message },
      failure: { message: `invalid job data: ${message}` },
    };
  }
  if (job.stalledCounter > MAX_STALLS) {
    return {
      ok: false,
      outcome: { kind: 'stalled-repeatedly', stalls: job.stalledCounter },
      failure: { message: `the job stalled ${job.stalledCounter} times (limit ${MAX_STALLS})` },
    };
  }
  const data = parsed.data;
  const locationId = data.event.ghl?.locationId ?? deps.config.ghl.defaultLocationId;
  if (locationId === undefined) {
    const message = 'the job names no location and several locations are configured (no GHL_LOCATION_ID)';
    return { ok: false, outcome: { kind: 'no-location', message }, failure: { message } };
  }
  return { ok: true, value: { data, locationId, ids: taskIdsOf(data.event), jobId: job.id ?? '' } };
}

/**
 * resolve: the task's ids, from the event or found from its ticket (task-matcher.ts). The lookup
 * spends the location's budget like the PUT, and a job that finds no task, or several, is
 * dead-lettered with what was searched.
 */
async function resolve(located: Located, deps: ProcessorDeps): Promise<Step<Target>> {
  const { data, locationId } = located;
  const order = orderKeyFor(data.event.occurredAt, data.receivedAt, located.jobId);
  if (located.ids) return { ok: true, value: { data, locationId, ...located.ids, order } };
  const ticketRef = data.event.ticket?.id;
  if (ticketRef === undefined) {
    // The job schema requires a ticket when ids are missing; kept for jobs of an older schema.
    const message = 'the event names neither task ids nor a ticket';
    return { ok: false, outcome: { kind: 'invalid-job', message }, failure: { message } };
  }
  const matchRequest: MatchRequest = {
    locationId,
    ticketRef,
    email: data.event.requester?.email,
    completed: completedFor(data.event.type),
    pattern: data.match?.ticketPattern ?? DEFAULT_TICKET_PATTERN,
    signal: deps.signal,
  };
  const result = await deps.matcher.resolve(matchRequest);
  switch (result.kind) {
    case 'found':
      return {
        ok: true,
        value: { data, locationId, contactId: result.contactId, taskId: result.taskId, order, matchRequest },
      };
    case 'rate-budget-spent':
      return {
        ok: false,
        outcome: { kind: 'rate-budget-spent', msBeforeNext: result.msBeforeNext },
        failure: { message: 'rate budget spent' },
      };
    case 'no-match':
      return {
        ok: false,
        outcome: { kind: 'no-match', match: result.match },
        failure: {
          message: `no ${result.match.searched.completed ? 'completed' : 'open'} task references ticket ${ticketRef}`,
        },
      };
    case 'ambiguous':
      return {
        ok: false,
        outcome: { kind: 'ambiguous-match', match: result.match },
        failure: {
          message: `${result.match.candidates?.length ?? 'several'} tasks reference ticket ${ticketRef}`,
        },
      };
  }
}

/**
 * guard: one event per task at a time, and never an older one over a newer (task-order-guard.ts).
 * 'go' holds the task's lock; a stale event completes here without calling GHL.
 */
async function guard(
  target: Target,
  run: JobRun,
  deps: ProcessorDeps,
): Promise<Step<'go' | TaskUpdateResult>> {
  const begin = await deps.guard.begin(target.taskId, target.order);
  if (begin.kind === 'busy') {
    return {
      ok: false,
      outcome: { kind: 'task-busy', msBeforeNext: begin.msBeforeNext },
      failure: { message: 'task busy' },
    };
  }
  if (begin.kind === 'go') return { ok: true, value: 'go' };
  await clearDeadLetterAfterSuccess(deps.store, run.jobId, history(run.job));
  return {
    ok: true,
    value: {
      skipped: 'STALE_EVENT',
      taskId: target.taskId,
      lastAppliedAt: new Date(begin.lastAppliedMs).toISOString(),
    },
  };
}

/**
 * budget: one request from the location's budget shared by all workers (rate-budget.ts). The job's
 * id holds the slot it may reserve, so it claims that slot when it comes back.
 */
async function takeBudget(target: Target, jobId: string, deps: ProcessorDeps): Promise<Step<void>> {
  let take = await deps.budget.take(target.locationId, `${jobId}:put`);
  // A slot due in a moment is waited for here: delaying the job for it would cost another activation
  // (a claim finds its window full by the latency of the answers before it, rate-budget.ts).
  // So is a place in flight that should free in a moment (a fast location's burst of claims).
  const short = (t: BudgetTake): t is Extract<BudgetTake, { ok: false }> =>
    !t.ok && (t.reserved || t.busy === true) && t.msBeforeNext <= SHORT_WAIT_MS;
  const deadline = Date.now() + SHORT_WAIT_MS;
  while (short(take) && Date.now() + take.msBeforeNext <= deadline) {
    if (deps.signal?.aborted) break;
    await delay(take.msBeforeNext, undefined, { signal: deps.signal }).catch(() => undefined);
    take = await deps.budget.take(target.locationId, `${jobId}:put`);
  }
  if (take.ok) return { ok: true, value: undefined };
  return {
    ok: false,
    outcome: { kind: 'rate-budget-spent', msBeforeNext: take.msBeforeNext, reserved: take.reserved },
    failure: { message: 'rate budget spent' },
  };
}

/** The call is over: its place among the location's calls in flight is free (best effort: it expires anyway). */
async function releaseInflight(locationId: string, jobId: string, deps: ProcessorDeps): Promise<void> {
  try {
    let holder = `${jobId}:put`;
    // The place goes to the first job waiting for one; a job that is gone passes it on to the next.
    for (let handedOver = 0; handedOver < 10; handedOver += 1) {
      const next = await deps.budget.release(locationId, holder);
      if (next === undefined || !deps.wakeWaiter) return;
      const stillWaiting = (): Promise<boolean> => deps.budget.holdsPlace(locationId, next);
      if (await deps.wakeWaiter(next.replace(/:put$/, ''), stillWaiting)) return;
      holder = next;
    }
  } catch (error) {
    deps.logger.warn({ err: error, locationId }, 'could not release the call-in-flight place');
  }
}

/**
 * What GHL said about the location's budget, on every answer (rate-budget.ts). Best effort: a Redis
 * error here must not turn GHL's answer into a failure, so it is logged and the job goes on.
 */
async function observe(
  locationId: string,
  rateLimit: GhlResponse<Task>['rateLimit'],
  status: number | undefined,
  jobId: string,
  callMs: number | undefined,
  deps: ProcessorDeps,
): Promise<void> {
  try {
    await deps.budget.observe(locationId, rateLimit, status, `${jobId}:put`, callMs);
  } catch (error) {
    deps.logger.warn({ err: error, locationId }, 'could not record GHL rate-limit headers');
  }
}

/** call: the PUT; cut off with GhlError ABORTED when the task worker's signal aborts. */
function call(target: Target, deps: ProcessorDeps): Promise<GhlResponse<Task>> {
  return deps.ghl.completeTask({
    locationId: target.locationId,
    contactId: target.contactId,
    taskId: target.taskId,
    completed: completedFor(target.data.event.type),
    signal: deps.signal,
  });
}

/** commit: raise the task's ordering marker, release its lock, leave no dead letter behind. */
async function commit(
  target: Target,
  response: GhlResponse<Task>,
  run: JobRun,
  deps: ProcessorDeps,
): Promise<TaskUpdateResult> {
  await deps.guard.commit(target.taskId, target.order);
  await clearDeadLetterAfterSuccess(deps.store, run.jobId, history(run.job));
  return { taskId: target.taskId, completed: response.data.completed, status: response.status };
}

/** What may exist from earlier runs: a dead letter (it ran before), first-attempt bookkeeping (it was retried). */
function history(job: TaskJob): { ranBefore: boolean; retriedBefore: boolean } {
  return { ranBefore: job.attemptsStarted > 1, retriedBefore: job.attemptsMade > 0 };
}

function policyContext(job: TaskJob, deps: ProcessorDeps): PolicyContext {
  return {
    attemptsMade: job.attemptsMade,
    jobAttempts: job.opts.attempts,
    retry: deps.config.retry,
    now: Date.now(),
    random: deps.random,
    addedAt: job.timestamp,
    maxAgeMs: deps.config.jobMaxAgeMs,
  };
}

/**
 * An outcome that does not say whether GHL applied the PUT: no answer (timeout, reset, cut off at
 * shutdown) or a 5xx, which a gateway in front of GHL may give while GHL still works on the request.
 * A 429 is not ambiguous (GHL refused before doing anything), nor is any 4xx.
 */
function isAmbiguous(error: unknown): boolean {
  if (!(error instanceof GhlError)) return false;
  return (
    error.code === 'TIMEOUT' ||
    error.code === 'NETWORK' ||
    error.code === 'ABORTED' ||
    error.code === 'SERVER_ERROR'
  );
}
