import { describe, expect, it, jest } from '@jest/globals';
import {
  DEFAULT_LOCATION_KEY,
  TASK_UPDATE_JOB_NAME,
  TASK_UPDATE_JOB_OPTIONS,
  dedupeKeyFor,
  jobIdFor,
  type QueueStats,
  type QueueCounts,
  type TaskUpdateJob,
} from '@closeloop/queue';
import { parseJson, runCli, seedDeadLetter, taskJob, useTestQueues } from './cli-process.js';

// Each command is a process start (about 1.5 s of CPU with bullmq; apps/cli/README.md, "Start-up
// time"), several at once; on a busy machine they queue.
jest.setTimeout(30_000);

const queues = useTestQueues();

describe('closeloop queue stats', () => {
  it('When jobs wait, are delayed and failed, then stats show the counts of both queues, the age of the job next in line and the backlog per location', async () => {
    const { admin, prefix, env } = await queues();
    await seedDeadLetter(admin, prefix, {
      id: 'events-failed',
      reason: 'GHL_NOT_FOUND',
      deadAt: new Date().toISOString(),
      failedOriginal: true,
    });
    const addedAt = Date.now() - 60_000;
    const add = (key: string, locationId: string | undefined, options: { delay?: number } = {}) =>
      admin.taskUpdates.add(TASK_UPDATE_JOB_NAME, taskJob(key, locationId), {
        ...TASK_UPDATE_JOB_OPTIONS,
        jobId: `events-${key}`,
        timestamp: addedAt,
        ...options,
      });
    await add('w1', 'locA');
    await add('w2', 'locA');
    await add('w3', undefined);
    await add('d1', 'locB', { delay: 3_600_000 });

    const started = Date.now();
    const [json, human, truncated] = await Promise.all([
      runCli(['queue', 'stats', '--json'], env),
      runCli(['queue', 'stats'], env),
      runCli(['queue', 'stats', '--max-scan', '2', '--json'], env),
    ]);
    const elapsed = Date.now() - started;

    expect(json.code).toBe(0);
    const stats = parseJson<{ 'task-updates': QueueStats; 'task-updates-dead': { counts: QueueCounts } }>(
      json,
    );
    expect(stats['task-updates']).toMatchObject({
      counts: { waiting: 3, active: 0, delayed: 1, prioritized: 0, completed: 0, failed: 1 },
      backlogByLocation: { locA: 2, [DEFAULT_LOCATION_KEY]: 1, locB: 1 },
      scanned: 4,
      truncated: false,
    });
    const age = stats['task-updates'].oldestWaitingAgeMs ?? 0;
    expect(age).toBeGreaterThanOrEqual(60_000);
    expect(age).toBeLessThanOrEqual(60_000 + elapsed + 1_000);
    expect(stats['task-updates-dead'].counts).toMatchObject({ waiting: 1, failed: 0 });

    expect(human.stdout).toMatch(/^task-updates\s+3\s+0\s+1\s+0\s+0\s+0\s+1$/m);
    expect(human.stdout).toMatch(/^task-updates-dead\s+1\s+0\s+0\s+0\s+0\s+0\s+0$/m);
    expect(human.stdout).toMatch(/^oldest waiting job: 1m( \d+s)? \(\d+ ms\)$/m);
    expect(human.stdout).toMatch(/^ {2}locA\s+2$/m);
    expect(human.stdout).toMatch(/^ {2}\(default\)\s+1$/m);

    expect(parseJson<{ 'task-updates': QueueStats }>(truncated)['task-updates']).toMatchObject({
      scanned: 2,
      truncated: true,
      backlogByLocation: { locA: 2 },
    });
  });
});

describe('closeloop enqueue', () => {
  it('When an event is enqueued twice with one key, then the first is a new job and the second a duplicate, exactly as the receiver answers', async () => {
    const { admin, prefix, env } = await queues();
    const args = ['enqueue', '--type', 'closed', '--contact', 'c1', '--task', 't1', '--location', 'locA'];

    const first = await runCli([...args, '--key', 'fix-4711', '--ticket', 'ZD-4711', '--json'], env);
    const second = await runCli([...args, '--key', 'fix-4711', '--json'], env);
    const generated = await runCli(
      ['enqueue', '--type', 'ticket.reopened', '--contact', 'c1', '--task', 't1'],
      env,
    );

    const jobId = jobIdFor('cli', 'fix-4711');
    expect(first.code).toBe(0);
    expect(parseJson(first)).toEqual({ jobId, duplicate: false, idempotencyKey: 'fix-4711' });
    expect(parseJson(second)).toEqual({ jobId, duplicate: true, idempotencyKey: 'fix-4711' });
    const job = await admin.taskUpdates.getJob(jobId);
    expect(job?.data).toMatchObject({
      v: 1,
      source: 'cli',
      idempotencyKey: 'fix-4711',
      event: {
        type: 'ticket.closed',
        ticket: { id: 'ZD-4711' },
        ghl: { locationId: 'locA', contactId: 'c1', taskId: 't1' },
      },
    });
    expect(await admin.redis.exists(dedupeKeyFor(prefix, jobId))).toBe(1);

    expect(generated.code).toBe(0);
    const [, generatedJobId, generatedKey] =
      /^enqueued job (cli-[0-9a-f]{32}) \(idempotency key "([0-9a-f-]{36})"\)$/.exec(
        generated.stdout.trim(),
      ) ?? [];
    expect(generatedJobId).toBe(jobIdFor('cli', generatedKey ?? ''));
    const reopened = (await admin.taskUpdates.getJob(generatedJobId ?? ''))?.data as
      TaskUpdateJob | undefined;
    expect(reopened?.event).toMatchObject({
      type: 'ticket.reopened',
      ghl: { contactId: 'c1', taskId: 't1' },
    });
    expect(reopened?.event.ghl).not.toHaveProperty('locationId');
    expect(await admin.taskUpdates.getWaitingCount()).toBe(2);
  });

  it('When the event is invalid, then enqueue exits 2 with the schema issues and enqueues nothing', async () => {
    const { admin, env } = await queues();

    const invalid = await runCli(
      [
        'enqueue',
        '--type',
        'done',
        '--contact',
        'c1',
        '--task',
        'no spaces/please',
        '--occurred-at',
        'yesterday',
        '--json',
      ],
      env,
    );

    expect(invalid).toMatchObject({ code: 2, stdout: '' });
    expect(invalid.stderr).toContain('invalid event, nothing enqueued');
    expect(invalid.stderr).toMatch(/--type \(type\): /);
    expect(invalid.stderr).toMatch(/--task \(ghl\.taskId\): must contain only letters, digits/);
    expect(invalid.stderr).toMatch(/--occurred-at \(occurredAt\): /);
    expect(await admin.taskUpdates.getJobCountByTypes('waiting', 'delayed', 'completed', 'failed')).toBe(0);
  });
});
