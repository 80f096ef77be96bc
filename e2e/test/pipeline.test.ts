/**
 * The shipped system end to end: the receiver and the worker run as their own processes through the
 * same entry points as production (`pnpm start:receiver` / `start:worker`), configured only by
 * environment, against a real Redis and the GHL sandbox over HTTP.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { DEAD_LETTER_QUEUE, TASK_UPDATES_QUEUE, jobIdFor } from '@closeloop/queue';
import { findFreePort, testRedisUrl, uniquePrefix, waitFor } from '@closeloop/test-support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  ROOT,
  startProcess,
  startWorkerProcess,
  stopProcess,
  waitUntilServing,
  type Proc,
} from './support/processes.js';
import { sendTaskWebhook } from './support/webhooks.js';

const LOCATION = 've9EPM428h8vShlRW1KT';
const CONTACT = 'sx6wyHhbFdRXh302LLNR';
const GHL_TOKEN = `pit-e2e-${randomBytes(12).toString('hex')}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
const API_KEY = `e2e-key-${randomBytes(12).toString('hex')}`;
const ADMIN_PASSWORD = `admin-${randomBytes(9).toString('hex')}`;
const SECRETS = [GHL_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.slice('whsec_'.length), API_KEY, ADMIN_PASSWORD];

describe('closeloop end to end (receiver and worker processes, Redis, GHL sandbox)', () => {
  let sandbox: RunningSandbox;
  let receiver: Proc;
  let worker: Proc;
  let receiverUrl: string;
  let adminUrl: string;
  let redis: Redis;
  let tasks: Queue;
  let dead: Queue;
  const prefix = uniquePrefix('e2e');
  const env = { REDIS_URL: testRedisUrl(), QUEUE_PREFIX: prefix, LOG_LEVEL: 'debug' };

  const seedTask = async (completed = false): Promise<string> => {
    const id = `e2eTask${randomUUID().replace(/-/g, '').slice(0, 13)}`;
    await sandbox.control.seed({ tasks: [{ id, contactId: CONTACT, title: 'Call back', completed }] });
    return id;
  };

  const sendWebhook = (taskId: string, id?: string, type?: string) =>
    sendTaskWebhook(
      receiverUrl,
      WEBHOOK_SECRET,
      { locationId: LOCATION, contactId: CONTACT },
      taskId,
      id,
      type,
    );

  const taskState = async (taskId: string) => (await sandbox.control.getTask(taskId))?.completed;

  beforeAll(async () => {
    sandbox = await startSandbox();
    await sandbox.control.seed({
      locations: [{ id: LOCATION, tokens: [GHL_TOKEN] }],
      contacts: [{ id: CONTACT, locationId: LOCATION, email: 'jordan@example.com' }],
    });
    const port = await findFreePort();
    const adminPort = await findFreePort();
    receiverUrl = `http://127.0.0.1:${port}`;
    adminUrl = `http://127.0.0.1:${adminPort}`;
    receiver = startProcess('apps/receiver/src/main.ts', {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      WEBHOOK_SECRET,
      INTERNAL_API_KEY: API_KEY,
      ADMIN_USER: 'admin',
      ADMIN_PASSWORD,
    });
    worker = startWorkerProcess({ ...env, GHL_BASE_URL: sandbox.url, GHL_TOKEN, GHL_LOCATION_ID: LOCATION });
    await waitUntilServing(receiverUrl, worker);
    redis = new Redis(testRedisUrl());
    tasks = new Queue(TASK_UPDATES_QUEUE, { connection: redis, prefix });
    dead = new Queue(DEAD_LETTER_QUEUE, { connection: redis, prefix });
  });

  afterAll(async () => {
    // SIGTERM: both processes drain and exit 0 (their own shutdown paths, not a kill).
    const codes = await Promise.all([receiver && stopProcess(receiver), worker && stopProcess(worker)]);
    await tasks?.obliterate({ force: true });
    await dead?.obliterate({ force: true });
    await tasks?.close();
    await dead?.close();
    const leftovers = await redis?.keys(`${prefix}:*`);
    if (leftovers?.length) await redis.del(...leftovers);
    await redis?.quit();
    await sandbox?.close();
    expect(codes).toEqual([0, 0]);
  });

  it('When a helpdesk sends a signed ticket.closed webhook, then the GHL task is completed with exactly the documented request', async () => {
    const taskId = await seedTask();
    const sent = await sendWebhook(taskId);
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ jobId: jobIdFor('events', sent.id), duplicate: false });

    await waitFor(async () => (await taskState(taskId)) === true, {
      description: 'the task to be completed',
    });
    const calls = await sandbox.control.calls({ path: taskId });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      method: 'PUT',
      path: `/contacts/${CONTACT}/tasks/${taskId}/completed`,
      body: { completed: true },
      status: 200,
      tokenLocationId: LOCATION,
    });
    expect(calls[0]?.headers).toMatchObject({ version: '2021-07-28', 'content-type': 'application/json' });
    // The job object is read after the state says completed, so it carries the return value.
    const job = await waitFor(async () =>
      (await tasks.getJobState(sent.body.jobId)) === 'completed' ? tasks.getJob(sent.body.jobId) : undefined,
    );
    expect(job.returnvalue).toMatchObject({ taskId, completed: true });
  });

  it('When the same webhook is redelivered after the task was completed, then 202 duplicate:true and GHL is not called again', async () => {
    const taskId = await seedTask();
    const first = await sendWebhook(taskId);
    await waitFor(async () => (await taskState(taskId)) === true, {
      description: 'the task to be completed',
    });
    const again = await sendWebhook(taskId, first.id);
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ jobId: first.body.jobId, duplicate: true });
    // The worker would have to pick up a new job for a second call; the queue holds none.
    expect(await tasks.getWaitingCount()).toBe(0);
    expect(await sandbox.control.calls({ path: taskId })).toHaveLength(1);
  });

  it('When an internal system posts ticket.reopened, then the completed task is reopened', async () => {
    const taskId = await seedTask(true);
    const response = await fetch(`${receiverUrl}/v1/task-updates`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'ticket.reopened',
        occurredAt: new Date().toISOString(),
        ghl: { contactId: CONTACT, taskId },
        idempotencyKey: `reopen-${taskId}`,
      }),
    });
    expect(response.status).toBe(202);
    await waitFor(async () => (await taskState(taskId)) === false, {
      description: 'the task to be reopened',
    });
    const calls = await sandbox.control.calls({ path: taskId });
    expect(calls.map((call) => call.body)).toEqual([{ completed: false }]);
  });

  it('When GHL answers 422, then the dead letter shows in Bull Board, and `pnpm closeloop dead replay` completes the task once GHL accepts it', async () => {
    const taskId = await seedTask();
    const unprocessable = {
      statusCode: 422,
      message: ['completed must be a boolean value'],
      error: 'Unprocessable Entity',
    };
    await sandbox.control.injectFault({ status: 422, body: unprocessable, taskId, count: 1 });
    const sent = await sendWebhook(taskId);
    const letter = await waitFor(() => dead.getJob(sent.body.jobId), { description: 'the dead letter' });
    expect(letter.data).toMatchObject({
      reason: 'GHL_UNPROCESSABLE',
      http: { status: 422, body: unprocessable },
    });

    const auth = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    // Bull Board is on the admin listener (ADMIN_PORT), not on the webhook port.
    expect(
      (await fetch(`${receiverUrl}/admin/queues/api/queues`, { headers: { authorization: auth } })).status,
    ).toBe(404);
    expect((await fetch(`${adminUrl}/admin/queues/api/queues`)).status).toBe(401);
    const board = (await (
      await fetch(`${adminUrl}/admin/queues/api/queues`, { headers: { authorization: auth } })
    ).json()) as {
      queues: { name: string; counts: Record<string, number> }[];
    };
    expect(
      board.queues.find((queue) => queue.name === DEAD_LETTER_QUEUE)?.counts.waiting,
    ).toBeGreaterThanOrEqual(1);

    const replay = spawnSync('pnpm', ['closeloop', 'dead', 'replay', sent.body.jobId], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(replay.status).toBe(0);
    await waitFor(async () => (await taskState(taskId)) === true, {
      description: 'the replayed task to be completed',
    });
    expect(await dead.getJob(sent.body.jobId)).toBeUndefined();
    expect((await sandbox.control.calls({ path: taskId })).map((call) => call.status)).toEqual([422, 200]);
  });

  it('When everything above ran at debug level, then no token, secret, key or password appears in any log line', () => {
    const logs = receiver.output.join('') + worker.output.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of SECRETS) expect(logs).not.toContain(secret);
  });
});
