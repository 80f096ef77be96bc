import { describe, expect, it, jest } from '@jest/globals';
import {
  DEAD_LETTER_JOB_NAME,
  type DeadLetter,
  type DeadLetterAdmin,
  type DeadLetterDetails,
  type DeadLetterEntry,
  type PurgeReport,
  type ReplayReport,
} from '@closeloop/queue';
import { parseJson, runCli, seedDeadLetter, startCli, taskJob, useTestQueues } from './cli-process.js';

interface BulkJson<R> {
  dryRun: boolean;
  interrupted: boolean;
  counts: Record<string, number>;
  reports: R[];
}

// Each command is a process start (about 1.5 s of CPU with bullmq; apps/cli/README.md, "Start-up
// time"), several at once; on a busy machine they queue.
jest.setTimeout(30_000);

const queues = useTestQueues();

const HOUR = 3_600_000;
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString();

/** Four dead letters, oldest first: two reasons, two locations and one without, over three days. */
async function seedFour(admin: DeadLetterAdmin, prefix: string): Promise<void> {
  await seedDeadLetter(admin, prefix, {
    id: 'events-a',
    reason: 'GHL_UNPROCESSABLE',
    locationId: 'locA',
    deadAt: ago(72 * HOUR),
    failedOriginal: true,
  });
  await seedDeadLetter(admin, prefix, {
    id: 'events-b',
    reason: 'GHL_NOT_FOUND',
    locationId: 'locB',
    deadAt: ago(2 * HOUR),
  });
  await seedDeadLetter(admin, prefix, {
    id: 'events-c',
    reason: 'GHL_UNPROCESSABLE',
    locationId: 'locB',
    deadAt: ago(0.5 * HOUR),
  });
  await seedDeadLetter(admin, prefix, { id: 'events-d', reason: 'GHL_NOT_FOUND', deadAt: ago(0.1 * HOUR) });
}

/** `count` RETRIES_EXHAUSTED dead letters without original jobs, in one round trip. */
async function seedBulk(admin: DeadLetterAdmin, count: number): Promise<void> {
  const deadAt = ago(HOUR);
  const letters = Array.from({ length: count }, (_, i) => {
    const id = `events-bulk${String(i).padStart(4, '0')}`;
    const letter: DeadLetter = {
      job: taskJob(id, 'locA'),
      reason: 'RETRIES_EXHAUSTED',
      attempts: 8,
      firstAttemptAt: deadAt,
      deadAt,
      lastError: 'GHL answered 503',
    };
    return { name: DEAD_LETTER_JOB_NAME, data: letter, opts: { jobId: id } };
  });
  await admin.deadLetters.addBulk(letters);
}

const ids = (entries: Array<{ id: string }>): string[] => entries.map((entry) => entry.id);

describe('closeloop dead list and show', () => {
  it('When dead letters are listed with filters, then each filter narrows the table or the JSON as asked', async () => {
    const { admin, prefix, env } = await queues();
    await seedFour(admin, prefix);
    const since = ago(3 * HOUR);
    const until = ago(HOUR);

    const [table, byReason, byLocation, sinceAge, untilAge, sinceUntilIso, limited, limitedTable] =
      await Promise.all([
        runCli(['dead', 'list'], env),
        runCli(['dead', 'list', '--reason', 'GHL_UNPROCESSABLE', '--json'], env),
        runCli(['dead', 'list', '--location', 'locB', '--json'], env),
        runCli(['dead', 'list', '--since', '3h', '--json'], env),
        runCli(['dead', 'list', '--until', '1h', '--json'], env),
        runCli(['dead', 'list', '--since', since, '--until', until, '--json'], env),
        runCli(['dead', 'list', '--limit', '2', '--json'], env),
        runCli(['dead', 'list', '--limit', '2'], env),
      ]);

    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+REASON\s+HTTP\s+LOCATION\s+ATTEMPTS\s+DEAD AT\s+LAST ERROR$/);
    expect(lines[1]).toMatch(
      /^events-a\s+GHL_UNPROCESSABLE\s+422\s+locA\s+1\s+\S+Z\s+GHL PUT \/contacts\/\S{41}…$/,
    );
    expect(lines[4]).toMatch(/^events-d\s+GHL_NOT_FOUND\s+-\s+-\s+1\s/);
    expect(lines.at(-1)).toBe('4 dead letters');
    expect(table.stderr).toBe('');

    expect(ids(parseJson<DeadLetterEntry[]>(byReason))).toEqual(['events-a', 'events-c']);
    expect(ids(parseJson<DeadLetterEntry[]>(byLocation))).toEqual(['events-b', 'events-c']);
    expect(ids(parseJson<DeadLetterEntry[]>(sinceAge))).toEqual(['events-b', 'events-c', 'events-d']);
    expect(ids(parseJson<DeadLetterEntry[]>(untilAge))).toEqual(['events-a', 'events-b']);
    expect(ids(parseJson<DeadLetterEntry[]>(sinceUntilIso))).toEqual(['events-b']);
    expect(ids(parseJson<DeadLetterEntry[]>(limited))).toEqual(['events-a', 'events-b']);
    expect(limitedTable.stdout.trimEnd().split('\n').at(-1)).toBe('2 dead letters (--limit 2 reached)');
    expect(parseJson<DeadLetterEntry[]>(byReason)[0]?.letter).toMatchObject({
      reason: 'GHL_UNPROCESSABLE',
      http: { status: 422 },
      job: taskJob('events-a', 'locA'),
    });
  });

  it('When one dead letter is shown, then its event, GHL answer, attempts, times and original job are printed, and an unknown id exits 1', async () => {
    const { admin, prefix, env } = await queues();
    await seedFour(admin, prefix);

    const [json, human, gone, unknown] = await Promise.all([
      runCli(['dead', 'show', 'events-a', '--json'], env),
      runCli(['dead', 'show', 'events-a'], env),
      runCli(['dead', 'show', 'events-b'], env),
      runCli(['dead', 'show', 'events-nope', '--json'], env),
    ]);

    const details = parseJson<DeadLetterDetails>(json);
    expect(details).toMatchObject({
      id: 'events-a',
      letter: {
        reason: 'GHL_UNPROCESSABLE',
        attempts: 1,
        http: { status: 422 },
        job: taskJob('events-a', 'locA'),
      },
      original: { state: 'failed', attemptsMade: 1, failedReason: 'GHL_UNPROCESSABLE: seeded' },
    });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^reason +GHL_UNPROCESSABLE$/m);
    expect(human.stdout).toMatch(/^GHL status +422$/m);
    expect(human.stdout).toContain('"title should not be empty"');
    expect(human.stdout).toMatch(/^first attempt +\S+Z$/m);
    expect(human.stdout).toContain('"taskId": "ocQHyuzHvysMo5N5VsXc"');
    expect(human.stdout).toMatch(/^original job +failed, 1 attempt made, added \S+Z, /m);
    expect(gone.stdout).toMatch(/^original job +gone from "task-updates"/m);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toContain('no dead letter "events-nope"');
  });
});

describe('closeloop dead replay', () => {
  it('When dead letters are replayed by id, reason, location and --all, then each selection goes back to task-updates, and --dry-run changes nothing', async () => {
    const { admin, prefix, env } = await queues();
    await seedFour(admin, prefix);

    const dryRun = await runCli(['dead', 'replay', '--all', '--dry-run', '--json'], env);
    expect(dryRun.code).toBe(0);
    expect(parseJson<BulkJson<ReplayReport>>(dryRun)).toMatchObject({
      dryRun: true,
      counts: { 'would-replay': 4 },
    });
    expect(await admin.deadLetters.getWaitingCount()).toBe(4);
    expect(await admin.taskUpdates.getJobCounts('waiting', 'failed')).toEqual({ waiting: 0, failed: 1 });

    const byId = await runCli(['dead', 'replay', 'events-a', 'events-nope', '--json'], env);
    expect(byId.code).toBe(1);
    expect(parseJson<BulkJson<ReplayReport>>(byId).reports).toEqual([
      { id: 'events-a', outcome: 'retried' },
      { id: 'events-nope', outcome: 'not-found' },
    ]);
    const retried = await admin.taskUpdates.getJob('events-a');
    expect(await retried?.getState()).toBe('waiting');
    expect(retried?.attemptsMade).toBe(0);

    const byReason = await runCli(['dead', 'replay', '--reason', 'GHL_UNPROCESSABLE'], env);
    expect(byReason.code).toBe(0);
    expect(byReason.stdout).toBe('events-c  re-added\nreplay: 1 dead letter — 1 re-added\n');

    const byLocation = await runCli(['dead', 'replay', '--location', 'locB', '--json'], env);
    expect(parseJson<BulkJson<ReplayReport>>(byLocation).reports).toEqual([
      { id: 'events-b', outcome: 're-added' },
    ]);

    const all = await runCli(['dead', 'replay', '--all', '--json'], env);
    expect(parseJson<BulkJson<ReplayReport>>(all)).toMatchObject({
      interrupted: false,
      reports: [{ id: 'events-d', outcome: 're-added' }],
    });

    expect(await admin.deadLetters.getWaitingCount()).toBe(0);
    const waiting = await admin.taskUpdates.getWaiting();
    expect(waiting.map((job) => job.id).sort()).toEqual(['events-a', 'events-b', 'events-c', 'events-d']);
    expect((await admin.taskUpdates.getJob('events-d'))?.data).toEqual(taskJob('events-d', undefined));
  });

  it('When a bulk replay is interrupted with Ctrl-C and run again, then it stops after the current item with exit 130, and the rerun replays the rest: each dead letter exactly once', async () => {
    const { admin, env } = await queues();
    const total = 1_500;
    await seedBulk(admin, total);

    const first = startCli(['dead', 'replay', '--all'], env);
    await first.waitForLine((line) => line.endsWith('  re-added'));
    first.child.kill('SIGINT');
    const interrupted = await first.exited;

    expect(interrupted.code).toBe(130);
    expect(interrupted.stderr).toContain('stopping after the current dead letter');
    expect(interrupted.stderr).toMatch(/interrupted after \d+ dead letters?; run the same command again/);
    const firstIds = interrupted.stdout
      .split('\n')
      .filter((line) => line.endsWith('  re-added'))
      .map((line) => line.split('  ')[0]);
    expect(firstIds.length).toBeGreaterThan(0);
    expect(firstIds.length).toBeLessThan(total);
    expect(await admin.deadLetters.getWaitingCount()).toBe(total - firstIds.length);
    expect(await admin.taskUpdates.getWaitingCount()).toBe(firstIds.length);

    const rerun = await runCli(['dead', 'replay', '--all', '--json'], env);
    expect(rerun.code).toBe(0);
    const secondIds = parseJson<BulkJson<ReplayReport>>(rerun).reports.map((report) => {
      expect(report.outcome).toBe('re-added');
      return report.id;
    });

    const everyReplay = [...firstIds, ...secondIds];
    expect(everyReplay).toHaveLength(total);
    expect(new Set(everyReplay).size).toBe(total);
    expect(await admin.deadLetters.getWaitingCount()).toBe(0);
    expect(await admin.taskUpdates.getWaitingCount()).toBe(total);
  });
  it('When the reader of its output goes away mid-replay (as `| head -1` does), then the replay stops after the current item and every dead letter is either still there or queued', async () => {
    const { admin, env } = await queues();
    const total = 1_500;
    await seedBulk(admin, total);

    const run = startCli(['dead', 'replay', '--all'], env);
    await run.waitForLine((line) => line.endsWith('  re-added'));
    run.child.stdout?.destroy();
    const stopped = await run.exited;

    expect(stopped.code).toBe(130);
    expect(stopped.stderr).not.toContain('EPIPE');
    const left = await admin.deadLetters.getWaitingCount();
    expect(left).toBeGreaterThan(0);
    expect(left + (await admin.taskUpdates.getWaitingCount())).toBe(total);
  });
});

describe('closeloop dead purge', () => {
  it('When purge is asked without --yes, then it refuses and says how many; with --yes it purges them and their failed jobs', async () => {
    const { admin, prefix, env } = await queues();
    await seedFour(admin, prefix);
    await seedDeadLetter(admin, prefix, {
      id: 'events-e',
      reason: 'GHL_NOT_FOUND',
      locationId: 'locA',
      deadAt: ago(5 * HOUR),
      failedOriginal: true,
    });

    const [refused, dryRun] = await Promise.all([
      runCli(['dead', 'purge', '--reason', 'GHL_NOT_FOUND'], env),
      runCli(['dead', 'purge', '--all', '--until', '1h', '--dry-run', '--json'], env),
    ]);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toContain('3 dead letters would be purged; nothing was purged. Add --yes');
    expect(parseJson<BulkJson<PurgeReport>>(dryRun).reports).toEqual([
      { id: 'events-a', outcome: 'would-purge' },
      { id: 'events-e', outcome: 'would-purge' },
      { id: 'events-b', outcome: 'would-purge' },
    ]);
    expect(await admin.deadLetters.getWaitingCount()).toBe(5);

    const purged = await runCli(
      ['dead', 'purge', '--reason', 'GHL_NOT_FOUND', '--until', '1h', '--yes', '--json'],
      env,
    );
    expect(purged.code).toBe(0);
    expect(parseJson<BulkJson<PurgeReport>>(purged)).toMatchObject({
      counts: { purged: 2 },
      reports: [
        { id: 'events-e', outcome: 'purged' },
        { id: 'events-b', outcome: 'purged' },
      ],
    });
    expect(await admin.deadLetters.getJob('events-e')).toBeUndefined();
    expect(await admin.taskUpdates.getJob('events-e')).toBeUndefined();
    expect(await admin.deadLetters.getJob('events-d')).toBeDefined();

    const byId = await runCli(['dead', 'purge', 'events-a', 'events-b', '--yes'], env);
    expect(byId.code).toBe(1);
    expect(byId.stdout).toBe(
      'events-a  purged\nevents-b  not-found\npurge: 2 dead letters — 1 purged, 1 not-found\n',
    );
    expect((await admin.deadLetters.getWaiting()).map((job) => job.id).sort()).toEqual([
      'events-c',
      'events-d',
    ]);
  });
});
