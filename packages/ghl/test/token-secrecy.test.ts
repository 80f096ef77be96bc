import { inspect } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { findFreePort } from '@closeloop/test-support';
import { createGhlClient, type GhlClient } from '../src/client.js';
import { StaticTokenCredentials, type CredentialsProvider } from '../src/credentials.js';
import type { GhlErrorCode } from '../src/errors.js';
import { catchGhlError } from './local-server.js';

// Recognisable, and a valid header value, so got really sends it and keeps it in its options.
const SECRET = 'pit-TOPSECRET-4b1d-9e77-c0ffee';

/**
 * Every string reachable from `root` through own properties, enumerable or not (message, stack,
 * cause, anything hidden with defineProperty), so a got error tucked away non-enumerably is caught too.
 */
function reachableText(root: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      parts.push(value);
      return;
    }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
    if (seen.has(value) || depth > 12) return;
    seen.add(value);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor && 'value' in descriptor) visit(descriptor.value, depth + 1);
    }
  };
  visit(root, 0);
  return parts.join('\n');
}

let sandbox: RunningSandbox;
let client: GhlClient;

beforeAll(async () => {
  sandbox = await startSandbox({ burstLimit: 10_000 });
  client = createGhlClient({
    baseUrl: sandbox.url,
    credentials: new StaticTokenCredentials(SECRET),
    timeoutMs: 300,
  });
});

beforeEach(async () => {
  await sandbox.control.reset();
  await sandbox.control.seed({
    locations: [{ id: 'loc-a', tokens: [SECRET] }],
    contacts: [{ id: 'c-a1', locationId: 'loc-a' }],
    tasks: [{ id: 't-a1', contactId: 'c-a1' }],
  });
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

const TASK = { contactId: 'c-a1', taskId: 't-a1', completed: true };

const scenarios: Array<[GhlErrorCode, string, () => Promise<unknown>]> = [
  [
    'UNAUTHORIZED',
    'GHL rejects the token',
    async () => {
      await sandbox.control.reset();
      return client.completeTask(TASK);
    },
  ],
  [
    'NETWORK',
    'nothing listens on the port',
    async () => {
      const closed = createGhlClient({
        baseUrl: `http://127.0.0.1:${await findFreePort()}`,
        credentials: new StaticTokenCredentials(SECRET),
      });
      try {
        return await closed.completeTask(TASK);
      } finally {
        await closed.close();
      }
    },
  ],
  [
    'NETWORK',
    'GHL resets the connection',
    async () => {
      await sandbox.control.injectFault({ resetConnection: true });
      return client.completeTask(TASK);
    },
  ],
  [
    'TIMEOUT',
    'GHL answers too late',
    async () => {
      await sandbox.control.injectFault({ latencyMs: 2_000 });
      return client.completeTask(TASK);
    },
  ],
  [
    'SERVER_ERROR',
    'GHL answers 500',
    async () => {
      await sandbox.control.injectFault({ status: 500 });
      return client.completeTask(TASK);
    },
  ],
  [
    'BAD_RESPONSE',
    'GHL answers 200 with an unexpected body',
    async () => {
      await sandbox.control.injectFault({ status: 200, body: { nothing: true } });
      return client.completeTask(TASK);
    },
  ],
  [
    'UNAUTHORIZED',
    'a refreshing provider is rejected twice',
    async () => {
      const credentials: CredentialsProvider = {
        getToken: () => Promise.resolve(`${SECRET}-old`),
        onUnauthorized: () => Promise.resolve(true),
      };
      const refreshing = createGhlClient({ baseUrl: sandbox.url, credentials });
      try {
        return await refreshing.completeTask(TASK);
      } finally {
        await refreshing.close();
      }
    },
  ],
];

describe('token secrecy', () => {
  it.each(scenarios)(
    'When the call fails with %s because %s, then the token appears nowhere in the error',
    async (code, _because, run) => {
      const error = await catchGhlError(run());
      expect(error.code).toBe(code);
      expect(error.message).not.toContain(SECRET);
      expect(error.stack).not.toContain(SECRET);
      expect(JSON.stringify(error)).not.toContain(SECRET);
      expect(JSON.stringify({ ...error })).not.toContain(SECRET);
      expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(SECRET);
      expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
      expect(reachableText(error)).not.toContain(SECRET);
    },
  );

  it('When the connection fails, then the cause keeps only a sanitised description of got’s error', async () => {
    const error = await catchGhlError(scenarios[1]![2]());
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).message).toMatch(/^RequestError ECONNREFUSED: /);
    expect(Object.keys(error.cause as Error)).toEqual([]);
  });
});
