import { afterEach, describe, expect, it } from '@jest/globals';
import { openDeadLetterAdmin, replayDeadLetters, type DeadLetterAdmin } from '@closeloop/queue';
import { testRedisUrl, waitFor } from '@closeloop/test-support';
import { Harness, eventFor, newTaskId, type HarnessOptions } from './harness.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

const opened: Array<{ close(): Promise<void> }> = [];
async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const h = await Harness.start(options);
  opened.push(h);
  return h;
}
async function proxied(h: Harness): Promise<{ proxy: TcpProxy; admin: DeadLetterAdmin }> {
  const proxy = await startTcpProxy(testRedisUrl());
  opened.push(proxy);
  const admin = await openDeadLetterAdmin({ redisUrl: proxy.url, prefix: h.prefix });
  opened.push(admin);
  return { proxy, admin };
}
afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close();
});

const UNPROCESSABLE = {
  status: 422,
  body: { statusCode: 422, message: ['title should not be empty'], error: 'Unprocessable Entity' },
};

/**
 * The two writes of a replay, recognised by the keys in the command the replayer sends: sending the
 * job back (BullMQ's retry and add scripts both touch the queue's `marker` key) and removing the dead
 * letter (BullMQ's removeJob names the dead-letter queue's `repeat` key, our compare-and-remove its
 * `wait` list).
 */
function isReplayWrite(chunk: Buffer): boolean {
  const text = chunk.toString('latin1');
  return (
    text.includes(':task-updates:marker') ||
    text.includes(':task-updates-dead:repeat') ||
    text.includes(':task-updates-dead:wait')
  );
}

async function deadLettered(h: Harness, taskId: string) {
  await h.sandbox.control.injectFault({ ...UNPROCESSABLE, taskId, count: 1 });
  const job = await h.enqueue(eventFor(taskId));
  await h.failed(job);
  return job;
}

describe('dead-letter replay: nothing is lost when it is interrupted', () => {
  it.each([
    ['still in the failed set', false],
    ['gone (removeOnFail)', true],
  ])(
    'When the connection drops between the two steps of a replay and the original job is %s, then the event is still a job or a dead letter and a rerun completes the replay',
    async (_label, removeOriginal) => {
      const taskId = newTaskId();
      const h = await harness({ tasks: [{ id: taskId }] });
      const job = await deadLettered(h, taskId);
      const id = job.id ?? '';
      if (removeOriginal) await h.queue.remove(id);
      const { proxy, admin } = await proxied(h);

      const cut = proxy.intercept({ match: isReplayWrite, after: 1, mode: 'cut' });
      const replay = replayDeadLetters(admin, { ids: [id] });
      await cut;
      await expect(replay).rejects.toThrow();

      // The event is somewhere an operator (or the worker) finds it.
      const deadLetter = await h.deadLetter(id);
      const original = await h.queue.getJob(id);
      const state = original ? await original.getState() : 'missing';
      expect(deadLetter !== undefined || ['waiting', 'active', 'delayed', 'completed'].includes(state)).toBe(
        true,
      );

      // Rerun on a healthy connection: the replay finishes, the task is completed, no dead letter is left.
      expect((await replayDeadLetters(h.deadLetterQueues, { ids: [id] }))[0]?.outcome).not.toBe('not-found');
      await waitFor(async () => (await h.sandbox.control.getTask(taskId))?.completed === true, {
        description: 'the replayed task to be completed',
      });
      await waitFor(async () => (await h.deadLetterCount()) === 0, { description: 'no dead letter left' });
      expect(await (await h.reload(job)).getState()).toBe('completed');
    },
  );

  it('When the replayed job fails again before the replay has removed the old dead letter, then exactly one dead letter remains: the new one', async () => {
    const taskId = newTaskId();
    const h = await harness({ tasks: [{ id: taskId }] });
    const job = await deadLettered(h, taskId);
    const id = job.id ?? '';
    await h.sandbox.control.injectFault({ status: 404, taskId, count: 1 });
    const { proxy, admin } = await proxied(h);

    // The job is sent back; the replayer's next write waits until the worker has failed the job again.
    const held = proxy.intercept({ match: isReplayWrite, after: 1, mode: 'hold' });
    const replay = replayDeadLetters(admin, { ids: [id] });
    await held;
    await waitFor(async () => (await h.deadLetter(id))?.data.reason === 'GHL_NOT_FOUND', {
      description: 'the new dead letter',
    });
    proxy.release();

    expect(await replay).toEqual([{ id, outcome: 'retried' }]);
    expect(await h.deadLetterCount()).toBe(1);
    expect((await h.deadLetter(id))?.data).toMatchObject({ reason: 'GHL_NOT_FOUND', http: { status: 404 } });
    expect(await (await h.reload(job)).getState()).toBe('failed');
  });
});
