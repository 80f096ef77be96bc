import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEAD_LETTER_QUEUE, TASK_UPDATES_QUEUE } from '@closeloop/queue';
import { parsePrometheusText } from '@closeloop/runtime';
import { Worker } from 'bullmq';
import { DEAD_LETTER_DESCRIPTION, redactSecrets } from '../src/admin-board.js';
import { expectError, postInternal, sampleEvent, startTestReceiver, type TestReceiver } from './helpers.js';

const ADMIN = { user: 'operator', password: 'correct-horse-battery-staple' };
const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

interface BoardQueue {
  name: string;
  description?: string;
  jobs: { id: string; data: unknown }[];
  counts: Record<string, number>;
  hasWorkers: boolean | null;
}

async function readRejectedUnauthorized(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return (
    parsePrometheusText(text).find(
      (sample) =>
        sample.name === 'closeloop_receiver_rejected_total' && sample.labels.code === 'UNAUTHORIZED',
    )?.value ?? 0
  );
}

describe('Bull Board at /admin/queues on the admin listener, with ADMIN_USER and ADMIN_PASSWORD set', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver({ ADMIN_USER: ADMIN.user, ADMIN_PASSWORD: ADMIN.password });
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('When no credentials are sent, then 401 with a Basic challenge in the error shape', async () => {
    const response = await fetch(`${receiver.adminUrl}/admin/queues`);
    expect(response.headers.get('www-authenticate')).toBe('Basic realm="closeloop"');
    await expectError(response, 401, 'UNAUTHORIZED');
  });

  it.each([
    ['a wrong password', basic(ADMIN.user, 'wrong-password')],
    ['a wrong user', basic('admin', ADMIN.password)],
    ['the internal API key as a bearer token', 'Bearer test-internal-key-7f3a9c1e5b2d4f60'],
  ])('When %s is sent, then 401', async (_name, authorization) => {
    const response = await fetch(`${receiver.adminUrl}/admin/queues/api/queues`, {
      headers: { authorization },
    });
    await expectError(response, 401, 'UNAUTHORIZED');
  });

  it('When the board refuses credentials, then each 401 is counted as rejected UNAUTHORIZED', async () => {
    const before = await readRejectedUnauthorized(receiver.adminUrl);
    for (const authorization of [basic(ADMIN.user, 'nope-nope-nope'), '']) {
      const response = await fetch(`${receiver.adminUrl}/admin/queues/api/queues`, {
        headers: authorization ? { authorization } : {},
      });
      await expectError(response, 401, 'UNAUTHORIZED');
    }
    expect(await readRejectedUnauthorized(receiver.adminUrl)).toBe(before + 2);
  });

  it('When the board lists its queues and no worker runs, then task-updates warns of no workers but the dead-letter queue, which no worker reads by design, does not', async () => {
    const list = async (): Promise<BoardQueue[]> => {
      const response = await fetch(`${receiver.adminUrl}/admin/queues/api/queues`, {
        headers: { authorization: basic(ADMIN.user, ADMIN.password) },
      });
      expect(response.status).toBe(200);
      return ((await response.json()) as { queues: BoardQueue[] }).queues;
    };
    const hasWorkersOf = (queues: BoardQueue[], name: string) =>
      queues.find((queue) => queue.name === name)?.hasWorkers;

    const idle = await list();
    // Bull Board badges a queue "no workers" exactly when hasWorkers === false (admin-board.ts).
    expect(hasWorkersOf(idle, TASK_UPDATES_QUEUE)).toBe(false);
    expect(hasWorkersOf(idle, DEAD_LETTER_QUEUE)).toBeNull();

    const worker = new Worker(TASK_UPDATES_QUEUE, null, {
      connection: { url: receiver.config.redisUrl },
      prefix: receiver.prefix,
      autorun: false,
    });
    try {
      // A worker's connection registers under the queue's client name as soon as it connects.
      await worker.waitUntilReady();
      const busy = await list();
      expect(hasWorkersOf(busy, TASK_UPDATES_QUEUE)).toBe(true);
      expect(hasWorkersOf(busy, DEAD_LETTER_QUEUE)).toBeNull();
    } finally {
      await worker.close();
    }

    const workers = await fetch(`${receiver.adminUrl}/admin/queues/api/queues/${DEAD_LETTER_QUEUE}/workers`, {
      headers: { authorization: basic(ADMIN.user, ADMIN.password) },
    });
    expect(workers.status).toBe(200);
    expect(await workers.json()).toEqual({ workers: null });
  });

  it('When the webhook port is asked for the board, even with the right credentials, then 404 NOT_FOUND', async () => {
    const response = await fetch(`${receiver.url}/admin/queues/api/queues`, {
      headers: { authorization: basic(ADMIN.user, ADMIN.password) },
    });
    await expectError(response, 404, 'NOT_FOUND');
  });

  it('When the right credentials are sent, then the board page is served', async () => {
    const response = await fetch(`${receiver.adminUrl}/admin/queues`, {
      headers: { authorization: basic(ADMIN.user, ADMIN.password) },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await response.text()).toContain('closeloop');
  });

  it('When the board API is asked for its queues, then it lists task-updates and the dead-letter queue with replay instructions', async () => {
    expect(
      (await postInternal(receiver.url, JSON.stringify({ ...sampleEvent, idempotencyKey: 'board-1' })))
        .status,
    ).toBe(202);

    const response = await fetch(
      `${receiver.adminUrl}/admin/queues/api/queues?activeQueue=${TASK_UPDATES_QUEUE}&status=waiting`,
      {
        headers: { authorization: basic(ADMIN.user, ADMIN.password) },
      },
    );

    expect(response.status).toBe(200);
    const { queues } = (await response.json()) as { queues: BoardQueue[] };
    expect(queues.map((queue) => queue.name).sort()).toEqual([TASK_UPDATES_QUEUE, DEAD_LETTER_QUEUE].sort());
    const dead = queues.find((queue) => queue.name === DEAD_LETTER_QUEUE);
    expect(dead?.description).toBe(DEAD_LETTER_DESCRIPTION);
    expect(dead?.description).toMatch(/replay/i);
    const tasks = queues.find((queue) => queue.name === TASK_UPDATES_QUEUE);
    expect(tasks?.counts.waiting).toBe(1);
    // The board shows the job as stored: the event and the key, no credential of any kind.
    expect(tasks?.jobs[0]?.data).toMatchObject({
      source: 'internal',
      idempotencyKey: 'board-1',
      event: sampleEvent,
    });
    expect(JSON.stringify(tasks?.jobs)).not.toContain('test-internal-key');
  });
});

describe('Bull Board without ADMIN_USER and ADMIN_PASSWORD', () => {
  let receiver: TestReceiver;
  beforeAll(async () => {
    receiver = await startTestReceiver({ ADMIN_USER: undefined, ADMIN_PASSWORD: undefined });
  });
  afterAll(async () => {
    await receiver.close();
  });

  it.each(['/admin/queues', '/admin/queues/api/queues'])(
    'When %s is requested on the admin listener, then 404 NOT_FOUND: the board is not mounted at all',
    async (path) => {
      const response = await fetch(`${receiver.adminUrl}${path}`, {
        headers: { authorization: basic(ADMIN.user, ADMIN.password) },
      });
      await expectError(response, 404, 'NOT_FOUND');
    },
  );

  it('When /metrics is scraped, then the admin listener still serves it', async () => {
    const response = await fetch(`${receiver.adminUrl}/metrics`);
    expect(response.status).toBe(200);
    expect(
      parsePrometheusText(await response.text()).find(
        (sample) => sample.name === 'closeloop_receiver_queue_metrics_up',
      )?.value,
    ).toBe(1);
  });
});

describe('redactSecrets (the board formatter for job data)', () => {
  it('When job data holds keys that look like credentials, then their values are replaced at any depth', () => {
    expect(
      redactSecrets({
        event: { ghl: { taskId: 't1' } },
        http: { body: { access_token: 'a', items: [{ apiKey: 'b', Authorization: 'c', name: 'ok' }] } },
        password: 'p',
        count: 3,
      }),
    ).toEqual({
      event: { ghl: { taskId: 't1' } },
      http: {
        body: {
          access_token: '[redacted]',
          items: [{ apiKey: '[redacted]', Authorization: '[redacted]', name: 'ok' }],
        },
      },
      password: '[redacted]',
      count: 3,
    });
  });
});
