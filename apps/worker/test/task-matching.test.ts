import { describe, expect, it } from '@jest/globals';
import type { SandboxSeed } from '@closeloop/ghl-sandbox';
import {
  DEFAULT_TICKET_PATTERN,
  enqueueTaskUpdate,
  type DeadLetterMatch,
  type TaskEvent,
} from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import type { Job } from 'bullmq';
import type { TaskUpdateResult } from '../src/task-worker.js';
import { CONTACT_A, LOC_A, TOKEN_A, useCleanup, type Harness, type HarnessOptions } from './harness.js';

/**
 * Finding the task (docs/matching.md) through the real worker: events name no GHL ids, only a
 * ticket (and maybe the requester's email); the sandbox holds the tasks, and its call log shows
 * exactly which lookups the worker made.
 */

const { harness } = useCleanup();

const EMAIL_A = 'a@example.com';
/** A second contact of location A, so "only the requester's tasks" is visible. */
const CONTACT_A2 = 'contactA200000000003';
const EMAIL_A2 = 'other@example.com';

type SeedTask = NonNullable<SandboxSeed['tasks']>[number];

async function seedTasks(h: Harness, tasks: SeedTask[]): Promise<void> {
  await h.sandbox.control.seed({
    contacts: [{ id: CONTACT_A2, locationId: LOC_A, email: EMAIL_A2 }],
    tasks,
  });
}

/** A harness with its worker running, `tasks` seeded, and then `event` enqueued. */
async function enqueueAfterSeeding(
  tasks: SeedTask[],
  event: TaskEvent,
  options: HarnessOptions = {},
): Promise<{ h: Harness; job: Job<unknown, TaskUpdateResult> }> {
  const h = await harness(options);
  await seedTasks(h, tasks);
  const job = await h.enqueue(event);
  return { h, job };
}

let clock = Date.parse('2026-11-28T10:00:00.000Z');
/** An event without GHL ids; each one a second later than the previous, so their order is clear. */
function ticketEvent(
  ticketRef: string,
  options: { type?: TaskEvent['type']; email?: string } = {},
): TaskEvent {
  clock += 1_000;
  return {
    type: options.type ?? 'ticket.closed',
    occurredAt: new Date(clock).toISOString(),
    ticket: { id: ticketRef },
    ...(options.email !== undefined && { requester: { email: options.email } }),
    ghl: { locationId: LOC_A },
  };
}

async function enqueueWithPattern(
  h: Harness,
  event: TaskEvent,
  ticketPattern: string,
): Promise<Job<unknown, TaskUpdateResult>> {
  const { jobId } = await enqueueTaskUpdate(h.producer, {
    source: 'zendesk',
    idempotencyKey: `${event.ticket?.id ?? ''}-${event.occurredAt}`,
    event,
    match: { ticketPattern },
  });
  const job = await h.queue.getJob(jobId);
  if (!job) throw new Error(`job ${jobId} vanished right after enqueue`);
  return job;
}

/** The GHL calls the sandbox saw, as "METHOD path", oldest first. */
async function callLines(h: Harness): Promise<string[]> {
  return (await h.sandbox.control.calls()).map((call) => `${call.method} ${call.path}`);
}

async function stateOf(h: Harness, taskId: string): Promise<boolean | undefined> {
  return (await h.sandbox.control.getTask(taskId))?.completed;
}

async function deadLetterMatch(
  h: Harness,
  job: Job<unknown, TaskUpdateResult>,
): Promise<{
  reason: string | undefined;
  match: DeadLetterMatch | undefined;
}> {
  const letter = await h.deadLetter(job.id ?? '');
  return { reason: letter?.data.reason, match: letter?.data.match };
}

/** The next call whose path contains `pathPart` is answered 429 with Retry-After: 1. */
async function rateLimitOnce(h: Harness, pathPart: string): Promise<void> {
  // The fault filter matches a substring of the path (FaultSpec.taskId).
  await h.sandbox.control.injectFault({
    status: 429,
    headers: { 'retry-after': '1' },
    taskId: pathPart,
    count: 1,
  });
}

/** After a 429: the job is delayed without spending an attempt, then completes `taskId` with one. */
async function expectDelayedThenCompleted(
  h: Harness,
  job: Job<unknown, TaskUpdateResult>,
  taskId: string,
): Promise<void> {
  await waitFor(async () => (await (await h.reload(job)).getState()) === 'delayed', {
    description: 'the job to be delayed after the 429',
  });
  expect((await h.reload(job)).attemptsMade).toBe(0);
  expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
  expect((await h.reload(job)).attemptsMade).toBe(1);
}

/** What a dead letter says a close of ZD-4711 in location A searched (default pattern) and where. */
function searchedFor4711(
  fields: Pick<DeadLetterMatch['searched'], 'route' | 'email' | 'contactId'>,
): DeadLetterMatch['searched'] {
  return {
    locationId: LOC_A,
    ticket: 'ZD-4711',
    pattern: DEFAULT_TICKET_PATTERN,
    completed: false,
    ...fields,
  };
}

const LOOKUP_BY_EMAIL = ['GET /contacts/search/duplicate', `GET /contacts/${CONTACT_A}/tasks`];

describe('finding the task by the requester email', () => {
  it('When a close names only a ticket and the email, then the contact by email, its tasks and the PUT of the one task referencing the ticket are called, in that order', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-target', contactId: CONTACT_A, title: 'Call back (ZD-4711)' },
        { id: 'task-other-ticket', contactId: CONTACT_A, title: 'Send the quote for ZD-5000' },
        // The same ticket on another contact: not the requester's, so never looked at.
        { id: 'task-other-contact', contactId: CONTACT_A2, title: 'Call back (ZD-4711)' },
      ],
      ticketEvent('ZD-4711', { email: EMAIL_A }),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-target', completed: true, status: 200 });
    expect(await stateOf(h, 'task-target')).toBe(true);
    expect(await stateOf(h, 'task-other-ticket')).toBe(false);
    expect(await stateOf(h, 'task-other-contact')).toBe(false);
    expect(await callLines(h)).toEqual([
      ...LOOKUP_BY_EMAIL,
      `PUT /contacts/${CONTACT_A}/tasks/task-target/completed`,
    ]);
    const [duplicate] = await h.sandbox.control.calls({ path: '/contacts/search/duplicate' });
    expect(duplicate?.query).toEqual({ locationId: LOC_A, email: EMAIL_A });
    // Personal data only at debug (level 20): no line above it carries the email or the task title.
    const loud = JSON.stringify(h.logs.filter((line) => line.level > 20));
    expect(loud).not.toContain(EMAIL_A);
    expect(loud).not.toContain('Call back');
  });

  it('When the reference is found in the task body rather than its title, then that task is completed', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [{ id: 'task-body', contactId: CONTACT_A, title: 'Call back', body: 'Helpdesk ticket: ZD-4711' }],
      ticketEvent('ZD-4711', { email: EMAIL_A }),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-body', completed: true, status: 200 });
  });

  it('When a reopen comes for a ticket with one open and one completed task, then the completed one is reopened', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-done', contactId: CONTACT_A, title: 'Call back (ZD-4711)', completed: true },
        { id: 'task-open', contactId: CONTACT_A, title: 'Follow-up for ZD-4711' },
      ],
      ticketEvent('ZD-4711', { type: 'ticket.reopened', email: EMAIL_A }),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-done', completed: false, status: 200 });
    expect(await stateOf(h, 'task-done')).toBe(false);
    expect(await stateOf(h, 'task-open')).toBe(false);
    expect(await callLines(h)).toEqual([
      ...LOOKUP_BY_EMAIL,
      `PUT /contacts/${CONTACT_A}/tasks/task-done/completed`,
    ]);
  });

  it('When a close comes for a ticket whose only task is already completed, then that task is sent again (the PUT is idempotent)', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [{ id: 'task-done', contactId: CONTACT_A, title: 'Call back (ZD-4711)', completed: true }],
      ticketEvent('ZD-4711', { email: EMAIL_A }),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-done', completed: true, status: 200 });
  });

  it('When a ticket is closed and then reopened, then the reopen reuses the cached lookup: one contact search, one task list, two PUTs', async () => {
    const h = await harness();
    await seedTasks(h, [{ id: 'task-target', contactId: CONTACT_A, title: 'Call back (ZD-4711)' }]);

    const close = await h.enqueue(ticketEvent('ZD-4711', { email: EMAIL_A }));
    expect(await h.finished(close)).toEqual({ taskId: 'task-target', completed: true, status: 200 });
    // The task is completed now, yet the reopen finds it through the cache, not a second lookup.
    const reopen = await h.enqueue(ticketEvent('ZD-4711', { type: 'ticket.reopened', email: EMAIL_A }));
    expect(await h.finished(reopen)).toEqual({ taskId: 'task-target', completed: false, status: 200 });

    expect(await stateOf(h, 'task-target')).toBe(false);
    expect(await callLines(h)).toEqual([
      ...LOOKUP_BY_EMAIL,
      `PUT /contacts/${CONTACT_A}/tasks/task-target/completed`,
      `PUT /contacts/${CONTACT_A}/tasks/task-target/completed`,
    ]);
  });
});

describe('the ticket pattern', () => {
  it('When one task says ZD-47110 and another ZD-4711, then a close of ZD-4711 completes only the second (whole word by default)', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-longer', contactId: CONTACT_A, title: 'Invoice ZD-47110' },
        { id: 'task-prefixed', contactId: CONTACT_A, title: 'XZD-4711 is another system' },
        { id: 'task-exact', contactId: CONTACT_A, title: 'Call back (ZD-4711)' },
      ],
      ticketEvent('ZD-4711', { email: EMAIL_A }),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-exact', completed: true, status: 200 });
    expect(await stateOf(h, 'task-longer')).toBe(false);
    expect(await stateOf(h, 'task-prefixed')).toBe(false);
  });

  it("When the job carries the source's own pattern, then only a task matching that pattern is a candidate", async () => {
    const h = await harness();
    await seedTasks(h, [
      // Both contain the whole word 4711, so the default pattern could not choose between them.
      { id: 'task-tagged', contactId: CONTACT_A, title: '[ticket 4711] Call back' },
      { id: 'task-untagged', contactId: CONTACT_A, title: 'Order 4711 shipped' },
    ]);

    const job = await enqueueWithPattern(
      h,
      ticketEvent('4711', { email: EMAIL_A }),
      String.raw`\[ticket {ticket}\]`,
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-tagged', completed: true, status: 200 });
    expect(await stateOf(h, 'task-untagged')).toBe(false);
  });
});

describe('when the lookup fails', () => {
  it('When no contact has the email, then the job is dead-lettered NO_MATCH with what was searched and no PUT is sent', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [{ id: 'task-target', contactId: CONTACT_A, title: 'Call back (ZD-4711)' }],
      ticketEvent('ZD-4711', { email: 'nobody@example.com' }),
    );

    expect(await h.failed(job)).toContain('NO_MATCH');
    expect(await deadLetterMatch(h, job)).toEqual({
      reason: 'NO_MATCH',
      match: {
        searched: searchedFor4711({ email: 'nobody@example.com', route: 'GET /contacts/search/duplicate' }),
      },
    });
    expect(await callLines(h)).toEqual(['GET /contacts/search/duplicate']);
    expect(await stateOf(h, 'task-target')).toBe(false);
  });

  it("When GHL's answer to a lookup reports the location's limits, then the budget takes them (the lookups spend the same budget as the PUT)", async () => {
    const h = await harness();
    await h.sandbox.control.seed({
      locations: [{ id: LOC_A, tokens: [TOKEN_A], rateLimit: { burstLimit: 37, burstIntervalMs: 4_000 } }],
    });
    const job = await h.enqueue(ticketEvent('ZD-4711', { email: 'nobody@example.com' }));

    expect(await h.failed(job)).toContain('NO_MATCH');
    expect(await callLines(h)).toEqual(['GET /contacts/search/duplicate']);
    const state = await h.producer.redis.hgetall(`${h.prefix}:ghl-budget:${LOC_A}:state`);
    expect(state).toMatchObject({ max: '37', interval: '4000' });
  });

  it("When none of the contact's tasks references the ticket, then NO_MATCH names the contact and both routes", async () => {
    const { h, job } = await enqueueAfterSeeding(
      [{ id: 'task-else', contactId: CONTACT_A, title: 'Call back (ZD-47110)' }],
      ticketEvent('ZD-4711', { email: EMAIL_A }),
    );

    expect(await h.failed(job)).toContain('no open task references ticket ZD-4711');
    expect(await deadLetterMatch(h, job)).toEqual({
      reason: 'NO_MATCH',
      match: {
        searched: searchedFor4711({
          email: EMAIL_A,
          contactId: CONTACT_A,
          route: 'GET /contacts/search/duplicate + GET /contacts/{contactId}/tasks',
        }),
      },
    });
    expect(await callLines(h)).toEqual(LOOKUP_BY_EMAIL);
  });

  it('When two open tasks of the contact reference the ticket, then the job is dead-lettered AMBIGUOUS_MATCH with both candidates and no PUT is sent', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-one', contactId: CONTACT_A, title: 'Call back (ZD-4711)' },
        { id: 'task-two', contactId: CONTACT_A, title: 'Send the refund', body: 'see ZD-4711' },
        // Already completed: not one the close could mean.
        { id: 'task-done', contactId: CONTACT_A, title: 'ZD-4711 first contact', completed: true },
      ],
      ticketEvent('ZD-4711', { email: EMAIL_A }),
    );

    expect(await h.failed(job)).toContain('AMBIGUOUS_MATCH');
    const { reason, match } = await deadLetterMatch(h, job);
    expect(reason).toBe('AMBIGUOUS_MATCH');
    expect(match?.searched).toMatchObject({ ticket: 'ZD-4711', contactId: CONTACT_A, completed: false });
    expect(match?.candidates).toEqual(
      expect.arrayContaining([
        { taskId: 'task-one', contactId: CONTACT_A, title: 'Call back (ZD-4711)', completed: false },
        { taskId: 'task-two', contactId: CONTACT_A, title: 'Send the refund', completed: false },
      ]),
    );
    expect(match?.candidates).toHaveLength(2);
    expect(await callLines(h)).toEqual(LOOKUP_BY_EMAIL);
  });

  it('When a NO_MATCH is followed by the task being created, then the next event finds it (no-match is not cached)', async () => {
    const h = await harness();
    const first = await h.enqueue(ticketEvent('ZD-4711', { email: EMAIL_A }));
    expect(await h.failed(first)).toContain('NO_MATCH');

    await seedTasks(h, [{ id: 'task-late', contactId: CONTACT_A, title: 'Call back (ZD-4711)' }]);
    const second = await h.enqueue(ticketEvent('ZD-4711', { email: EMAIL_A }));

    expect(await h.finished(second)).toEqual({ taskId: 'task-late', completed: true, status: 200 });
  });
});

describe('the cost of a lookup', () => {
  it('When the location budget allows one request per second, then each lookup call waits for its own window and the job is delayed, not failed', async () => {
    // GHL says so too (its headers win over the configured figures, and the lookups read them).
    const h = await harness({ env: { RATE_LIMIT_PER_INTERVAL: '1', RATE_LIMIT_INTERVAL_MS: '1000' } });
    await h.sandbox.control.seed({
      locations: [{ id: LOC_A, tokens: [TOKEN_A], rateLimit: { burstLimit: 1, burstIntervalMs: 1_000 } }],
    });
    await seedTasks(h, [{ id: 'task-target', contactId: CONTACT_A, title: 'Call back (ZD-4711)' }]);
    const job = await h.enqueue(ticketEvent('ZD-4711', { email: EMAIL_A }));

    expect(await h.finished(job, 30_000)).toEqual({ taskId: 'task-target', completed: true, status: 200 });
    const calls = await h.sandbox.control.calls();
    expect(calls.map((call) => `${call.status} ${call.method} ${call.path}`)).toEqual(
      [...LOOKUP_BY_EMAIL, `PUT /contacts/${CONTACT_A}/tasks/task-target/completed`].map(
        (line) => `200 ${line}`,
      ),
    );
    expect(calls.map((call) => `${call.method} ${call.path}`)).toEqual([
      ...LOOKUP_BY_EMAIL,
      `PUT /contacts/${CONTACT_A}/tasks/task-target/completed`,
    ]);
    // One request per one-second window: each call waited for the next window (less a little for
    // the time between taking the budget and the sandbox recording the call).
    const times = calls.map((call) => Date.parse(call.at));
    for (let i = 1; i < times.length; i += 1) {
      expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(900);
    }
    const delays = h.logs.filter((line) => line.outcome === 'delayed');
    expect(delays.length).toBeGreaterThanOrEqual(2);
    expect(delays.every((line) => line.reason === 'RATE_BUDGET')).toBe(true);
    expect(h.logs.filter((line) => line.outcome === 'retrying')).toEqual([]);
    // Only the successful attempt counts (BullMQ 6 counts it): the delays spent none.
    expect((await h.reload(job)).attemptsMade).toBe(1);
  });

  it('When GHL answers 429 to the contact search, then the job is delayed without spending an attempt and then completes', async () => {
    const h = await harness();
    await seedTasks(h, [{ id: 'task-target', contactId: CONTACT_A, title: 'Call back (ZD-4711)' }]);
    await rateLimitOnce(h, 'search/duplicate');

    const job = await h.enqueue(ticketEvent('ZD-4711', { email: EMAIL_A }));

    await expectDelayedThenCompleted(h, job, 'task-target');
    const calls = await h.sandbox.control.calls();
    expect(calls.map((call) => `${call.status} ${call.method} ${call.path}`)).toEqual([
      '429 GET /contacts/search/duplicate',
      '200 GET /contacts/search/duplicate',
      `200 GET /contacts/${CONTACT_A}/tasks`,
      `200 PUT /contacts/${CONTACT_A}/tasks/task-target/completed`,
    ]);
  });
});

const SEARCH_PATH = `/locations/${LOC_A}/tasks/search`;

describe('finding the task by the ticket alone (the location task search)', () => {
  it('When a close names only a ticket, then the location search finds the one task referencing it, on whichever contact, and that task is completed', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-decoy', contactId: CONTACT_A, title: 'Invoice ZD-47110' },
        { id: 'task-target', contactId: CONTACT_A2, title: 'Call back (ZD-4711)' },
      ],
      ticketEvent('ZD-4711'),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-target', completed: true, status: 200 });
    expect(await stateOf(h, 'task-target')).toBe(true);
    expect(await stateOf(h, 'task-decoy')).toBe(false);
    expect(await callLines(h)).toEqual([
      `POST ${SEARCH_PATH}`,
      `PUT /contacts/${CONTACT_A2}/tasks/task-target/completed`,
    ]);
    const [search] = await h.sandbox.control.calls({ path: SEARCH_PATH });
    // No `completed` filter: one search serves a close and a reopen (the state is chosen locally).
    expect(search?.body).toEqual({ query: 'ZD-4711', limit: 100, skip: 0 });
  });

  it('When a reopen names only a ticket, then the completed task is reopened, not the open one', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-open', contactId: CONTACT_A, title: 'Follow-up ZD-4711' },
        { id: 'task-done', contactId: CONTACT_A2, title: 'Call back (ZD-4711)', completed: true },
      ],
      ticketEvent('ZD-4711', { type: 'ticket.reopened' }),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-done', completed: false, status: 200 });
    expect(await stateOf(h, 'task-open')).toBe(false);
  });

  it('When a ticket is closed and then reopened, then one search serves both', async () => {
    const h = await harness();
    await seedTasks(h, [{ id: 'task-target', contactId: CONTACT_A2, title: 'Call back (ZD-4711)' }]);

    const close = await h.enqueue(ticketEvent('ZD-4711'));
    expect(await h.finished(close)).toEqual({ taskId: 'task-target', completed: true, status: 200 });
    const reopen = await h.enqueue(ticketEvent('ZD-4711', { type: 'ticket.reopened' }));
    expect(await h.finished(reopen)).toEqual({ taskId: 'task-target', completed: false, status: 200 });

    expect(await h.sandbox.control.calls({ path: SEARCH_PATH })).toHaveLength(1);
    expect(await h.sandbox.control.calls({ method: 'PUT' })).toHaveLength(2);
    expect(await stateOf(h, 'task-target')).toBe(false);
  });

  it('When the task is on the second page of the search, then the worker pages on (skip 100) and finds it', async () => {
    // 120 tasks whose titles contain the reference as text but not as a whole word (GHL's query is a
    // substring search); dated, so they sort before the undated target (sandbox order: due date).
    const decoys: SeedTask[] = Array.from({ length: 120 }, (_, n) => ({
      id: `task-decoy-${String(n).padStart(3, '0')}`,
      contactId: CONTACT_A,
      title: `Invoice ZD-4711${n}`,
      dueDate: '2026-12-01T00:00:00.000Z',
    }));
    const { h, job } = await enqueueAfterSeeding(
      [...decoys, { id: 'task-target', contactId: CONTACT_A2, title: 'Call back ZD-4711' }],
      ticketEvent('ZD-4711'),
    );

    expect(await h.finished(job)).toEqual({ taskId: 'task-target', completed: true, status: 200 });
    const searches = await h.sandbox.control.calls({ path: SEARCH_PATH });
    expect(searches.map((call) => call.body)).toEqual([
      { query: 'ZD-4711', limit: 100, skip: 0 },
      { query: 'ZD-4711', limit: 100, skip: 100 },
    ]);
  });

  it('When the search returns more than 10 pages, then the worker stops there and dead-letters AMBIGUOUS_MATCH (it cannot know the task is the only one)', async () => {
    const decoys: SeedTask[] = Array.from({ length: 1_001 }, (_, n) => ({
      id: `task-decoy-${String(n).padStart(4, '0')}`,
      contactId: CONTACT_A,
      title: n === 0 ? 'Call back ZD-4711' : `Invoice ZD-4711${n}`,
    }));
    const { h, job } = await enqueueAfterSeeding(decoys, ticketEvent('ZD-4711'));

    expect(await h.failed(job)).toContain('AMBIGUOUS_MATCH');
    const { match } = await deadLetterMatch(h, job);
    expect(match?.searched.route).toBe(
      'POST /locations/{locationId}/tasks/search (stopped after 10 pages of 100: too many tasks mention the ticket)',
    );
    expect(match?.candidates).toEqual([
      { taskId: 'task-decoy-0000', contactId: CONTACT_A, title: 'Call back ZD-4711', completed: false },
    ]);
    expect(await h.sandbox.control.calls({ path: SEARCH_PATH })).toHaveLength(10);
    expect(await h.sandbox.control.calls({ method: 'PUT' })).toEqual([]);
  });

  it('When tasks of two contacts reference the ticket, then AMBIGUOUS_MATCH lists both with their contacts', async () => {
    const { h, job } = await enqueueAfterSeeding(
      [
        { id: 'task-one', contactId: CONTACT_A, title: 'Call back (ZD-4711)' },
        { id: 'task-two', contactId: CONTACT_A2, title: 'ZD-4711: refund' },
      ],
      ticketEvent('ZD-4711'),
    );

    expect(await h.failed(job)).toContain('AMBIGUOUS_MATCH');
    const { match } = await deadLetterMatch(h, job);
    expect(match).toEqual({
      searched: searchedFor4711({ route: 'POST /locations/{locationId}/tasks/search' }),
      candidates: expect.arrayContaining([
        { taskId: 'task-one', contactId: CONTACT_A, title: 'Call back (ZD-4711)', completed: false },
        { taskId: 'task-two', contactId: CONTACT_A2, title: 'ZD-4711: refund', completed: false },
      ]) as unknown,
    });
    expect(match?.candidates).toHaveLength(2);
  });

  it('When the only search result referencing the ticket has no contact, then it is no candidate (the PUT needs one) and the job is NO_MATCH', async () => {
    const h = await harness();
    // A task on no contact, as GHL allows; the sandbox always has one, so the answer is injected.
    await h.sandbox.control.injectFault({
      body: { tasks: [{ _id: 'task-orphan', title: 'Call back (ZD-4711)', completed: false }] },
      taskId: 'tasks/search',
      count: 1,
    });

    const job = await h.enqueue(ticketEvent('ZD-4711'));

    expect(await h.failed(job)).toContain('NO_MATCH');
    expect((await deadLetterMatch(h, job)).match).toEqual({
      searched: searchedFor4711({ route: 'POST /locations/{locationId}/tasks/search' }),
    });
  });

  it('When GHL answers 429 to the search, then the job is delayed without spending an attempt and then completes', async () => {
    const h = await harness();
    await seedTasks(h, [{ id: 'task-target', contactId: CONTACT_A2, title: 'Call back (ZD-4711)' }]);
    await rateLimitOnce(h, 'tasks/search');

    const job = await h.enqueue(ticketEvent('ZD-4711'));

    await expectDelayedThenCompleted(h, job, 'task-target');
    const calls = await h.sandbox.control.calls();
    expect(calls.map((call) => `${call.status} ${call.method} ${call.path}`)).toEqual([
      `429 POST ${SEARCH_PATH}`,
      `201 POST ${SEARCH_PATH}`,
      `200 PUT /contacts/${CONTACT_A2}/tasks/task-target/completed`,
    ]);
    const delayed = h.logs.find((line) => line.outcome === 'delayed');
    expect(delayed?.reason).toBe('GHL_RATE_LIMITED');
  });
});
