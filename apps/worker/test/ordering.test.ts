import { describe, expect, it } from '@jest/globals';
import type { TaskEvent } from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import {
  configFrom,
  eventFor,
  newTaskId,
  useCleanup,
  waitForWorkerStarted,
  workerEnv,
  type Harness,
  type SpawnedWorker,
} from './harness.js';

// The ordering guard (apps/worker/src/task-order-guard.ts, docs/ordering.md): whatever order events
// are delivered and processed in, a task ends in the state of the newest event.

const { harness, spawn: spawnWorker } = useCleanup();

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, index) =>
    permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest]),
  );
}

async function completedOf(h: Harness, taskId: string): Promise<boolean | undefined> {
  return (await h.sandbox.control.getTask(taskId))?.completed;
}

describe('ordering: the newest event wins', () => {
  it("When closed → reopened → closed (and reopened → closed → reopened) are delivered in every order to two worker processes, then every task ends in its newest event's state", async () => {
    const sequences: { events: TaskEvent['type'][]; expected: boolean }[] = [
      { events: ['ticket.closed', 'ticket.reopened', 'ticket.closed'], expected: true },
      { events: ['ticket.reopened', 'ticket.closed', 'ticket.reopened'], expected: false },
    ];
    const cases = sequences.flatMap(({ events, expected }) =>
      permutations([0, 1, 2]).map((order) => ({
        taskId: newTaskId('order'),
        // Event i happened at second i; it is delivered at position order.indexOf(i).
        deliveries: order.map((i) => ({ type: events[i] ?? 'ticket.closed', second: i })),
        // Start each task in the state opposite to its final one, so "untouched" cannot pass.
        startCompleted: !expected,
        expected,
      })),
    );
    const h = await harness({
      startWorker: false,
      tasks: cases.map((c) => ({ id: c.taskId, completed: c.startCompleted })),
    });
    // Two real worker processes, each running several jobs at once: jobs for one task race.
    const processes: SpawnedWorker[] = [];
    for (let i = 0; i < 2; i += 1) {
      const worker = spawnWorker(
        workerEnv(h.sandbox.url, h.prefix, { WORKER_CONCURRENCY: '8', LOG_LEVEL: 'info' }),
      );
      processes.push(worker);
      await waitForWorkerStarted(worker);
    }
    // Interleaved across tasks, in each task's delivery order.
    for (let position = 0; position < 3; position += 1) {
      await Promise.all(
        cases.map(async (c) => {
          const delivery = c.deliveries[position];
          if (!delivery) return;
          await h.enqueue(
            eventFor(c.taskId, {
              type: delivery.type,
              occurredAt: new Date(Date.UTC(2026, 10, 28, 10, 0, delivery.second)).toISOString(),
            }),
          );
        }),
      );
    }
    await waitFor(async () => (await h.queue.getJobCounts('completed')).completed === cases.length * 3, {
      timeoutMs: 60_000,
      description: 'every job to complete',
    });
    const states = await Promise.all(
      cases.map(async (c) => [c.deliveries.map((d) => d.second).join(''), await completedOf(h, c.taskId)]),
    );
    expect(states).toEqual(cases.map((c) => [c.deliveries.map((d) => d.second).join(''), c.expected]));
    // Both processes did work, so the guard was shared through Redis, not within one process.
    for (const worker of processes) {
      expect(worker.logLines().some((line) => line.outcome === 'completed')).toBe(true);
    }
    expect(await h.deadLetterCount()).toBe(0);
  }, 90_000);

  it('When a close and a reopen carry the same second, then the one received later wins, in either order', async () => {
    const reopenLast = newTaskId('tie');
    const closeLast = newTaskId('tie');
    const h = await harness({
      tasks: [{ id: reopenLast }, { id: closeLast, completed: true }],
      startWorker: false,
    });
    const sameSecond = '2026-11-28T10:00:00Z';
    const jobs = [
      await h.enqueue(eventFor(reopenLast, { type: 'ticket.closed', occurredAt: sameSecond })),
      await h.enqueue(eventFor(reopenLast, { type: 'ticket.reopened', occurredAt: sameSecond })),
      await h.enqueue(eventFor(closeLast, { type: 'ticket.reopened', occurredAt: sameSecond })),
      await h.enqueue(eventFor(closeLast, { type: 'ticket.closed', occurredAt: sameSecond })),
    ];
    // Run the one received later first, the hard order: the one received first must then be skipped
    // as stale, although both carry the same time. Prioritised jobs run after waiting ones (BullMQ),
    // and one job at a time makes that order certain.
    await jobs[0]?.changePriority({ priority: 10 });
    await jobs[2]?.changePriority({ priority: 10 });
    h.startWorker(configFrom(workerEnv(h.sandbox.url, h.prefix, { WORKER_CONCURRENCY: '1' })));
    const results = await Promise.all(jobs.map((job) => h.finished(job)));
    expect(results.map((result) => 'skipped' in result)).toEqual([true, false, true, false]);
    expect(await completedOf(h, reopenLast)).toBe(false);
    expect(await completedOf(h, closeLast)).toBe(true);
  });

  it('When an event is stamped hours in the future, then it does not make the real events after it stale', async () => {
    const taskId = newTaskId('future');
    const h = await harness({ tasks: [{ id: taskId }] });
    // A local time sent with "Z" by a sender five hours ahead of UTC.
    const future = new Date(Date.now() + 5 * 60 * 60 * 1000).toISOString();
    const closed = await h.enqueue(eventFor(taskId, { type: 'ticket.closed', occurredAt: future }));
    expect(await h.finished(closed)).toMatchObject({ completed: true });
    const reopened = await h.enqueue(
      eventFor(taskId, { type: 'ticket.reopened', occurredAt: new Date().toISOString() }),
    );
    expect(await h.finished(reopened)).toEqual({ taskId, completed: false, status: 200 });
    expect(await completedOf(h, taskId)).toBe(false);
  });

  it('When an older close times out at the client while GHL still applies it, then a newer reopen is applied after it and the task ends open', async () => {
    const taskId = newTaskId('late');
    const h = await harness({
      tasks: [{ id: taskId }],
      env: { GHL_TIMEOUT_MS: '300', AMBIGUOUS_HOLD_MS: '2500', RETRY_BASE_MS: '20', RETRY_CAP_MS: '50' },
    });
    // GHL takes the close, answers too late for the client, and applies it 1.5 s after it arrived.
    await h.sandbox.control.injectFault({ taskId, count: 1, applyDelayMs: 1_500, latencyMs: 1_600 });
    const closed = await h.enqueue(
      eventFor(taskId, { type: 'ticket.closed', occurredAt: new Date(Date.now() - 1_000).toISOString() }),
    );
    await waitFor(() => h.logs.some((line) => line.jobId === closed.id && line.outcome === 'retrying'), {
      description: 'the close to time out at the client',
    });
    const reopened = await h.enqueue(
      eventFor(taskId, { type: 'ticket.reopened', occurredAt: new Date().toISOString() }),
    );
    await Promise.all([h.finished(closed), h.finished(reopened)]);

    const puts = (await h.sandbox.control.calls({ method: 'PUT', path: taskId })).map((call) => ({
      body: call.body,
      at: Date.parse(call.at),
    }));
    const lateClose = puts[0];
    const reopen = puts.find((call) => JSON.stringify(call.body) === '{"completed":false}');
    // The state is judged once the late close has certainly been applied (the sandbox applies it
    // 1 500 ms after it arrived): before that, even the unguarded order would still look right.
    const appliedAt = (lateClose?.at ?? 0) + 1_500;
    await waitFor(() => Date.now() > appliedAt + 100, { description: 'the late close to be applied' });
    expect(await completedOf(h, taskId)).toBe(false);
    // The reopen reached GHL only after the late close had been applied (1.5 s after it arrived).
    expect(lateClose?.body).toEqual({ completed: true });
    expect(reopen?.at).toBeGreaterThanOrEqual((lateClose?.at ?? 0) + 1_500);
  });
});
