import { afterEach, describe, expect, it } from '@jest/globals';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { UnrecoverableError, Worker } from 'bullmq';
import {
  DEAD_LETTER_JOB_NAME,
  TASK_UPDATE_JOB_NAME,
  TASK_UPDATE_JOB_OPTIONS,
  createRedisConnection,
  getDeadLetter,
  listDeadLetters,
  openDeadLetterAdmin,
  purgeDeadLetters,
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

function letter(
  reason: DeadLetter['reason'],
  overrides: { deadAt?: string; locationId?: string } = {},
): DeadLetter {
  const job =
    overrides.locationId === undefined
      ? JOB_DATA
      : {
          ...JOB_DATA,
          event: { ...JOB_DATA.event, ghl: { ...JOB_DATA.event.ghl, locationId: overrides.locationId } },
        };
  return {
    job,
    reason,
    ...(reason === 'GHL_UNPROCESSABLE' && {
      http: { status: 422, body: { statusCode: 422, message: ['x'] } },
    }),
    attempts: 1,
    firstAttemptAt: '2026-11-28T10:00:02.000Z',
    deadAt: overrides.deadAt ?? '2026-11-28T10:00:02.500Z',
    lastError: 'GHL PUT /contacts/c1/tasks/t1/completed answered 422 (UNPROCESSABLE): x',
  };
}

describe('dead letters: list, show, replay and purge (queue side)', () => {
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

    expect(await replayDeadLetters(admin, { filter: {} })).toEqual([
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
  it('When dead letters are filtered by location and time, then only those dead in [since, until) at that location come back, oldest first, up to the limit', async () => {
    const admin = await open();
    const add = (id: string, deadAt: string, locationId: string) =>
      admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_NOT_FOUND', { deadAt, locationId }), {
        jobId: id,
      });
    // Added out of order: the listing sorts by deadAt, not by insertion.
    await add('events-late', '2026-11-28T12:00:00.000Z', 'locA');
    await add('events-early', '2026-11-28T09:00:00.000Z', 'locA');
    await add('events-mid', '2026-11-28T10:00:00.000Z', 'locA');
    await add('events-other', '2026-11-28T10:00:00.000Z', 'locB');

    expect((await listDeadLetters(admin)).map((e) => e.id)).toEqual([
      'events-early',
      'events-mid',
      'events-other',
      'events-late',
    ]);
    const filtered = await listDeadLetters(admin, {
      locationId: 'locA',
      since: new Date('2026-11-28T10:00:00.000Z'),
      until: new Date('2026-11-28T12:00:00.000Z'),
    });
    expect(filtered.map((e) => e.id)).toEqual(['events-mid']);
    expect((await listDeadLetters(admin, { locationId: 'locA', limit: 2 })).map((e) => e.id)).toEqual([
      'events-early',
      'events-mid',
    ]);
  });

  it('When a dead letter is shown, then it comes with the state, attempts and times of its original failed job', async () => {
    const admin = await open();
    await admin.taskUpdates.add(TASK_UPDATE_JOB_NAME, JOB_DATA, {
      ...TASK_UPDATE_JOB_OPTIONS,
      jobId: 'events-shown',
    });
    await failByHand(admin, 'GHL_UNPROCESSABLE: refused');
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_UNPROCESSABLE'), { jobId: 'events-shown' });

    const details = await getDeadLetter(admin, 'events-shown');

    expect(details?.letter).toEqual(letter('GHL_UNPROCESSABLE'));
    expect(details?.original).toMatchObject({
      state: 'failed',
      attemptsMade: 1,
      failedReason: 'GHL_UNPROCESSABLE: refused',
    });
    expect(details?.original?.finishedOn).toBeGreaterThanOrEqual(details?.original?.timestamp ?? Infinity);
    expect(await getDeadLetter(admin, 'events-none')).toBeUndefined();
    await admin.taskUpdates.remove('events-shown');
    expect((await getDeadLetter(admin, 'events-shown'))?.original).toBeUndefined();
  });

  it('When a replay is a dry run, then every selected dead letter is reported and nothing changes', async () => {
    const admin = await open();
    await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_NOT_FOUND'), { jobId: 'events-dry' });

    expect(await replayDeadLetters(admin, { ids: ['events-dry', 'events-none'] }, { dryRun: true })).toEqual([
      { id: 'events-dry', outcome: 'would-replay' },
      { id: 'events-none', outcome: 'not-found' },
    ]);
    expect(await admin.deadLetters.count()).toBe(1);
    expect(await admin.taskUpdates.count()).toBe(0);
  });

  it('When the signal aborts during a bulk replay, then it stops after the item in hand and a rerun replays the rest', async () => {
    const admin = await open();
    for (const id of ['events-1', 'events-2', 'events-3']) {
      await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_NOT_FOUND'), { jobId: id });
    }
    const controller = new AbortController();
    const progress: Array<[unknown, number, number]> = [];

    const first = await replayDeadLetters(
      admin,
      { filter: {} },
      {
        signal: controller.signal,
        onProgress: (report, done, total) => {
          progress.push([report, done, total]);
          controller.abort();
        },
      },
    );

    expect(first).toHaveLength(1);
    expect(progress).toEqual([[first[0], 1, 3]]);
    const rest = await replayDeadLetters(admin, { filter: {} });
    expect(rest.map((r) => r.outcome)).toEqual(['re-added', 're-added']);
    expect(await admin.deadLetters.count()).toBe(0);
    expect(await admin.taskUpdates.count()).toBe(3);
  });

  it('When dead letters are purged, then they and their failed originals are gone, and a queued original stays', async () => {
    const admin = await open();
    await admin.taskUpdates.add(TASK_UPDATE_JOB_NAME, JOB_DATA, {
      ...TASK_UPDATE_JOB_OPTIONS,
      jobId: 'events-failed',
    });
    await failByHand(admin, 'GHL_NOT_FOUND: gone');
    await admin.taskUpdates.add(TASK_UPDATE_JOB_NAME, JOB_DATA, {
      ...TASK_UPDATE_JOB_OPTIONS,
      jobId: 'events-queued',
    });
    for (const id of ['events-failed', 'events-queued', 'events-alone']) {
      await admin.deadLetters.add(DEAD_LETTER_JOB_NAME, letter('GHL_NOT_FOUND'), { jobId: id });
    }

    expect(await purgeDeadLetters(admin, { filter: {} }, { dryRun: true })).toHaveLength(3);
    expect(await admin.deadLetters.count()).toBe(3);
    const reports = await purgeDeadLetters(admin, {
      ids: ['events-failed', 'events-queued', 'events-alone', 'events-none'],
    });

    expect(reports.map((r) => r.outcome)).toEqual(['purged', 'purged', 'purged', 'not-found']);
    expect(await admin.deadLetters.count()).toBe(0);
    expect(await admin.taskUpdates.getJob('events-failed')).toBeUndefined();
    expect(await (await admin.taskUpdates.getJob('events-queued'))?.getState()).toBe('waiting');
  });
});

/** Takes the next waiting job of task-updates and fails it, as a worker would (no processor runs). */
async function failByHand(admin: DeadLetterAdmin, reason: string): Promise<void> {
  const connection = createRedisConnection(testRedisUrl(), 'worker');
  const worker = new Worker(admin.taskUpdates.name, null, {
    connection,
    prefix: admin.taskUpdates.opts.prefix,
  });
  try {
    const token = 'hand';
    const job = await worker.getNextJob(token);
    if (!job) throw new Error('no job to fail');
    await job.moveToFailed(new UnrecoverableError(reason), token);
  } finally {
    await worker.close();
    await connection.quit();
  }
}
