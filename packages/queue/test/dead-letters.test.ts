import { afterEach, describe, expect, it } from '@jest/globals';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import {
  DEAD_LETTER_JOB_NAME,
  TASK_UPDATE_JOB_OPTIONS,
  listDeadLetters,
  openDeadLetterAdmin,
  replayDeadLetters,
  type DeadLetter,
  type DeadLetterAdmin,
} from '../src/index.js';

const JOB_DATA = {
  v: 1,
  source: 'events',
  idempotencyKey: 'msg_1',
  event: {
    type: 'ticket.closed',
    occurredAt: '2026-11-28T10:00:00.000Z',
    ghl: { locationId: 'loc1', contactId: 'c1', taskId: 't1' },
  },
  receivedAt: '2026-11-28T10:00:01.000Z',
};

function letter(reason: DeadLetter['reason']): DeadLetter {
  return {
    job: JOB_DATA,
    reason,
    ...(reason === 'GHL_UNPROCESSABLE' && {
      http: { status: 422, body: { statusCode: 422, message: ['x'] } },
    }),
    attempts: 1,
    firstAttemptAt: '2026-11-28T10:00:02.000Z',
    deadAt: '2026-11-28T10:00:02.500Z',
    lastError: 'GHL PUT /contacts/c1/tasks/t1/completed answered 422 (UNPROCESSABLE): x',
  };
}

describe('dead letters: list and replay (queue side)', () => {
  const admins: DeadLetterAdmin[] = [];
  const open = async (): Promise<DeadLetterAdmin> => {
    const admin = await openDeadLetterAdmin({ redisUrl: testRedisUrl(), prefix: uniquePrefix('dlq') });
    admins.push(admin);
    return admin;
  };
  afterEach(async () => {
    for (const admin of admins.splice(0)) {
      await admin.deadLetters.obliterate({ force: true });
      await admin.taskUpdates.obliterate({ force: true });
      await admin.close();
    }
  });

  it('When dead letters are listed by reason, then only that reason comes back, oldest first', async () => {
    const admin = await open();
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_UNPROCESSABLE'), { jobId: 'events-a' });
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('INVALID_JOB'), { jobId: 'events-b' });
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_UNPROCESSABLE'), { jobId: 'events-c' });

    const entries = await listDeadLetters(admin, { reason: 'GHL_UNPROCESSABLE' });

    expect(entries.map((e) => e.id)).toEqual(['events-a', 'events-c']);
    expect(entries[0]?.letter).toEqual(letter('GHL_UNPROCESSABLE'));
    expect(await listDeadLetters(admin)).toHaveLength(3);
  });

  it('When the original job is gone, then replay adds its data under the same id with the standard options', async () => {
    const admin = await open();
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_NOT_FOUND'), { jobId: 'events-gone' });

    expect(await replayDeadLetters(admin, { all: true })).toEqual([
      { id: 'events-gone', outcome: 're-added' },
    ]);

    const job = await admin.taskUpdates.getJob('events-gone');
    expect(job?.data).toEqual(JOB_DATA);
    expect(job?.opts.attempts).toBe(TASK_UPDATE_JOB_OPTIONS.attempts);
    expect(job?.opts.backoff).toEqual(TASK_UPDATE_JOB_OPTIONS.backoff);
    expect(await admin.deadLetters.count()).toBe(0);
  });

  it('When the original job is still queued, then only the dead letter is removed', async () => {
    const admin = await open();
    await admin.taskUpdates.add('task-update', JOB_DATA, { jobId: 'events-queued' });
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_NOT_FOUND'), { jobId: 'events-queued' });

    expect(await replayDeadLetters(admin, { ids: ['events-queued'] })).toEqual([
      { id: 'events-queued', outcome: 'already-queued' },
    ]);
    expect(await admin.taskUpdates.count()).toBe(1);
    expect(await admin.deadLetters.count()).toBe(0);
  });

  it('When an id has no dead letter, then it is reported as not found and nothing changes', async () => {
    const admin = await open();
    expect(await replayDeadLetters(admin, { ids: ['events-none'] })).toEqual([
      { id: 'events-none', outcome: 'not-found' },
    ]);
    expect(await admin.taskUpdates.count()).toBe(0);
  });
});
