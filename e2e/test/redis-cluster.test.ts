/**
 * The shipped processes on a three-node Redis Cluster (docs/redis-cluster.md): the receiver, the
 * worker and the `closeloop` command run unchanged, with REDIS_URL a `redis+cluster://` URL and a
 * hash-tagged QUEUE_PREFIX, against a cluster this file creates (`redis-server --cluster-enabled
 * yes` ×3, `redis-cli --cluster create`) and removes again.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { TASK_UPDATES_QUEUE, createRedisConnection, jobIdFor, type RedisConnection } from '@closeloop/queue';
import {
  findFreePort,
  hasRedisCliBinary,
  hasRedisServerBinary,
  startRedisCluster,
  uniquePrefix,
  waitFor,
  type LocalRedisCluster,
} from '@closeloop/test-support';
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

/** `pnpm closeloop …` as an operator runs it, without blocking this process (the cluster answers it). */
function closeloop(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('pnpm', ['--silent', 'closeloop', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// The cluster needs both binaries (Debian's redis-server brings redis-cli); without them, as on a
// machine whose tests use testcontainers, there is nothing to create the cluster with.
const describeWithCluster = hasRedisServerBinary() && hasRedisCliBinary() ? describe : describe.skip;

describeWithCluster('closeloop on a three-node Redis Cluster (receiver, worker and CLI processes)', () => {
  let cluster: LocalRedisCluster;
  let sandbox: RunningSandbox;
  let receiver: Proc | undefined;
  let worker: Proc | undefined;
  let receiverUrl: string;
  let redis: RedisConnection;
  let tasks: Queue;
  // The hash tag puts every key of the prefix in one slot, as BullMQ and closeloop's scripts need.
  const prefix = `{${uniquePrefix('cluster')}}`;
  let env: Record<string, string>;

  const seedTask = async (completed = false): Promise<string> => {
    const id = `clTask${randomUUID().replace(/-/g, '').slice(0, 14)}`;
    await sandbox.control.seed({ tasks: [{ id, contactId: CONTACT, title: 'Call back', completed }] });
    return id;
  };

  const sendWebhook = (taskId: string, id?: string) =>
    sendTaskWebhook(receiverUrl, WEBHOOK_SECRET, { locationId: LOCATION, contactId: CONTACT }, taskId, id);

  const taskState = async (taskId: string) => (await sandbox.control.getTask(taskId))?.completed;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    env = { REDIS_URL: cluster.url, QUEUE_PREFIX: prefix, LOG_LEVEL: 'info' };
    sandbox = await startSandbox();
    await sandbox.control.seed({
      locations: [{ id: LOCATION, tokens: [GHL_TOKEN] }],
      contacts: [{ id: CONTACT, locationId: LOCATION, email: 'jordan@example.com' }],
    });
    const port = await findFreePort();
    receiverUrl = `http://127.0.0.1:${port}`;
    receiver = startProcess('apps/receiver/src/main.ts', {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      WEBHOOK_SECRET,
    });
    worker = startWorkerProcess({ ...env, GHL_BASE_URL: sandbox.url, GHL_TOKEN, GHL_LOCATION_ID: LOCATION });
    await waitUntilServing(receiverUrl, worker);
    redis = createRedisConnection(cluster.url, 'worker');
    tasks = new Queue(TASK_UPDATES_QUEUE, { connection: redis, prefix });
  }, 40_000);

  afterAll(async () => {
    // SIGTERM: both processes drain and exit 0 (their own shutdown paths, on the cluster too).
    const codes = await Promise.all([receiver && stopProcess(receiver), worker && stopProcess(worker)]);
    await tasks?.close();
    await redis?.quit();
    await sandbox?.close();
    // The cluster goes with its keys: nothing to clean up key by key.
    await cluster?.dispose();
    expect(codes).toEqual([0, 0]);
  });

  it('When helpdesks send signed ticket.closed webhooks, then every task is completed, a redelivery is a duplicate, and all the keys live in the prefix’s one slot', async () => {
    const taskIds = await Promise.all([1, 2, 3, 4, 5].map(() => seedTask()));
    const sent = await Promise.all(taskIds.map((taskId) => sendWebhook(taskId)));
    for (const answer of sent) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual({ jobId: jobIdFor('events', answer.id), duplicate: false });
    }

    await waitFor(async () => (await Promise.all(taskIds.map(taskState))).every((done) => done === true), {
      timeoutMs: 20_000,
      description: 'every task to be completed through the cluster',
    });
    for (const taskId of taskIds) {
      const calls = await sandbox.control.calls({ path: taskId });
      expect(calls.map((call) => [call.method, call.body, call.status])).toEqual([
        ['PUT', { completed: true }, 200],
      ]);
    }
    const first = sent[0];
    if (!first) throw new Error('no webhook was sent');
    const states = await waitFor(async () => {
      const all = await Promise.all(sent.map((answer) => tasks.getJobState(answer.body.jobId)));
      return all.every((state) => state === 'completed') ? all : undefined;
    });
    expect(states).toHaveLength(sent.length);

    // The dedupe script (packages/queue) runs on the cluster like on one node.
    const again = await sendWebhook(taskIds[0] ?? '', first.id);
    expect(again).toMatchObject({ status: 202, body: { jobId: first.body.jobId, duplicate: true } });

    // Every key of the prefix (BullMQ's, dedupe, ordering, rate budget) is on the one node that
    // serves the prefix's slot, and nowhere else.
    const slot = Number(await redis.cluster('KEYSLOT', prefix));
    const perNode = await Promise.all(
      cluster.ports.map(async (port) => {
        const node = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
        try {
          // KEYS on one node of a test cluster: the app itself never runs it (docs/redis-cluster.md).
          const keys = await node.keys(`${prefix}:*`);
          return { keys, inSlot: keys.length > 0 ? Number(await node.cluster('COUNTKEYSINSLOT', slot)) : 0 };
        } finally {
          node.disconnect();
        }
      }),
    );
    const holders = perNode.filter((node) => node.keys.length > 0);
    expect(holders).toHaveLength(1);
    const keys = holders[0]?.keys ?? [];
    expect(holders[0]?.inSlot).toBe(keys.length);
    expect(keys).toEqual(
      expect.arrayContaining([
        `${prefix}:${TASK_UPDATES_QUEUE}:${first.body.jobId}`,
        `${prefix}:${TASK_UPDATES_QUEUE}:dedupe:${first.body.jobId}`,
        `${prefix}:task-order:${taskIds[0] ?? ''}`,
        `${prefix}:ghl-budget:${LOCATION}:log`,
      ]),
    );
  }, 30_000);

  it('When an operator runs `closeloop enqueue` and `closeloop queue stats` against the cluster, then the task is reopened and the figures are read', async () => {
    const taskId = await seedTask(true);
    const enqueued = await closeloop(
      [
        'enqueue',
        '--type',
        'reopened',
        '--contact',
        CONTACT,
        '--task',
        taskId,
        '--location',
        LOCATION,
        '--json',
      ],
      env,
    );
    expect(enqueued.stderr).toBe('');
    expect(enqueued.code).toBe(0);
    expect(JSON.parse(enqueued.stdout)).toMatchObject({ duplicate: false });
    await waitFor(async () => (await taskState(taskId)) === false, {
      timeoutMs: 20_000,
      description: 'the task to be reopened',
    });

    const stats = await closeloop(['queue', 'stats', '--json'], env);
    expect(stats.code).toBe(0);
    expect(JSON.stringify(JSON.parse(stats.stdout))).toContain(TASK_UPDATES_QUEUE);
  }, 30_000);

  it('When cluster mode is given a QUEUE_PREFIX without a hash tag, then the command refuses to start with a configuration error (exit 2) and writes nothing', async () => {
    const refused = await closeloop(['queue', 'stats'], { ...env, QUEUE_PREFIX: 'closeloop' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      'QUEUE_PREFIX: needs a Redis Cluster hash tag when REDIS_URL is a redis+cluster:// URL',
    );
  }, 20_000);
});
