import { randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { expect } from '@jest/globals';
import {
  DEAD_LETTER_QUEUE,
  EXAMPLE_TASK_EVENT,
  TASK_UPDATES_QUEUE,
  type TaskEvent,
  type TaskUpdateJob,
} from '@closeloop/queue';
import { testRedisUrl, uniquePrefix, waitFor } from '@closeloop/test-support';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { expectConfig } from '@closeloop/runtime';
import { loadConfig, type ReceiverConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { startReceiver, type RunningReceiver } from '../src/server.js';

export const API_KEY = 'test-internal-key-7f3a9c1e5b2d4f60';

export function createWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export const sampleEvent: TaskEvent = EXAMPLE_TASK_EVENT;

export interface TestReceiver {
  readonly url: string;
  /** The admin listener: Bull Board and /metrics. */
  readonly adminUrl: string;
  readonly prefix: string;
  readonly config: ReceiverConfig;
  readonly receiver: RunningReceiver;
  /** Every log line the receiver wrote (JSON text). */
  readonly logs: string[];
  /** `task-updates` / `task-updates-dead` seen from a separate connection, for assertions. */
  readonly tasks: Queue<TaskUpdateJob>;
  readonly dead: Queue;
  readonly redis: Redis;
  /** Jobs in `task-updates`, every state. */
  jobCount(): Promise<number>;
  /** Dedupe records the producer wrote. */
  dedupeKeyCount(): Promise<number>;
  /** Deletes every key under this receiver's prefix (jobs, dedupe records, queue metadata). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A receiver on 127.0.0.1:0 with its own queue prefix, configured through loadConfig like main.ts
 * (env overrides; `undefined` removes a variable). The receiver listens before Redis answers;
 * unless `waitForRedis` is false this resolves once /readyz is 200. Close it in afterAll.
 */
export async function startTestReceiver(
  env: Record<string, string | undefined> = {},
  options: { redisUrl?: string; waitForRedis?: boolean } = {},
): Promise<TestReceiver> {
  const redisUrl = options.redisUrl ?? testRedisUrl();
  const prefix = uniquePrefix('receiver');
  const config = expectConfig(
    loadConfig({
      REDIS_URL: redisUrl,
      QUEUE_PREFIX: prefix,
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_PORT: '0',
      ADMIN_HOST: '127.0.0.1',
      WEBHOOK_SECRET: createWebhookSecret(),
      INTERNAL_API_KEY: API_KEY,
      LOG_LEVEL: 'debug',
      ...env,
    }),
  );
  const logs: string[] = [];
  const logger = createLogger(config.logLevel, { write: (line: string) => void logs.push(line) });
  const receiver = await startReceiver(config, { logger, shutdownGraceMs: 2_000 });
  if (options.waitForRedis ?? true) {
    try {
      await waitFor(
        async () => {
          const response = await fetch(`${receiver.url}/readyz`);
          await response.body?.cancel();
          return response.status === 200;
        },
        { description: 'the receiver to reach Redis' },
      );
    } catch (error) {
      await receiver.close();
      throw error;
    }
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  const tasks = new Queue<TaskUpdateJob>(TASK_UPDATES_QUEUE, { connection: redis, prefix });
  const dead = new Queue(DEAD_LETTER_QUEUE, { connection: redis, prefix });
  for (const queue of [tasks, dead]) queue.on('error', () => undefined);

  const keysMatching = async (pattern: string): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };

  const clear = async (): Promise<void> => {
    const keys = await keysMatching(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  };

  return {
    url: receiver.url,
    adminUrl: receiver.adminUrl,
    prefix,
    config,
    receiver,
    logs,
    tasks,
    dead,
    redis,
    jobCount: async () => {
      const counts = await tasks.getJobCounts();
      return Object.values(counts).reduce((sum, count) => sum + count, 0);
    },
    dedupeKeyCount: async () => (await keysMatching(`${prefix}:${TASK_UPDATES_QUEUE}:dedupe:*`)).length,
    clear,
    close: async () => {
      await receiver.close();
      if (redis.status === 'ready') await clear();
      await Promise.all([tasks.close(), dead.close()]);
      redis.disconnect();
    },
  };
}

export interface SignOptions {
  id?: string;
  at?: Date;
  /** null: no Content-Type header at all. */
  contentType?: string | null;
}

/** Standard Webhooks headers for `body`, signed with the `standardwebhooks` library itself. */
export function signedHeaders(
  secret: string,
  body: string | Buffer,
  { id = `msg_${randomUUID()}`, at = new Date(), contentType = 'application/json' }: SignOptions = {},
): Record<string, string> {
  return {
    ...(contentType === null ? {} : { 'content-type': contentType }),
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

export function postWebhook(
  baseUrl: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<Response> {
  return fetch(`${baseUrl}/webhooks/events`, { method: 'POST', headers, body });
}

export function postInternal(
  baseUrl: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${baseUrl}/v1/task-updates`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', ...headers },
    body,
  });
}

/** The response is `{"error": {"code", "message", "issues"?}}` with `status`, and nothing else. */
export async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<{ code: string; message: string; issues?: { path: (string | number)[]; message: string }[] }> {
  const text = await response.text();
  expect({ status: response.status, text }).toEqual({ status, text: expect.stringContaining(code) });
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = JSON.parse(text) as {
    error: { code: string; message: string; issues?: { path: (string | number)[]; message: string }[] };
  };
  expect(Object.keys(body)).toEqual(['error']);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  for (const key of Object.keys(body.error)) expect(['code', 'message', 'issues']).toContain(key);
  return body.error;
}

export async function expectNothingEnqueued(receiver: TestReceiver): Promise<void> {
  expect(await receiver.jobCount()).toBe(0);
  expect(await receiver.dedupeKeyCount()).toBe(0);
}

export interface RawResponse {
  status: number;
  head: string;
  body: string;
}

/**
 * Sends bytes as they are over a fresh TCP connection and reads the answer until the server closes
 * it: for requests fetch refuses to make (repeated headers, conflicting lengths, garbage).
 */
export function sendRaw(baseUrl: string, request: string | Buffer): Promise<RawResponse> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => socket.end(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body });
    });
  });
}
