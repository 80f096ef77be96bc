import { randomUUID } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import {
  CredentialsKey,
  createCredentialStore,
  createOAuthClient,
  saveInstall,
  type CredentialStore,
  type OAuthLocationCredentials,
} from '@closeloop/credentials';
import type { TaskEvent } from '@closeloop/queue';
import { waitFor } from '@closeloop/test-support';
import { createWorkerCredentials } from '../src/credentials.js';
import { REAUTH_WAIT_MS } from '../src/failure-policy.js';
import {
  eventFor,
  newTaskId,
  useCleanup,
  waitForWorkerStarted,
  workerEnv,
  type Harness,
  type HarnessOptions,
} from './harness.js';

// SIGKILL: a process left by a failed test must not drain for SHUTDOWN_TIMEOUT_MS.
const { harness: openHarness, spawn: spawnWorker } = useCleanup({ processSignal: 'SIGKILL' });

const LOC_O = 'locO0000000000000003';
const CONTACT_O = 'contactO000000000003';
const CLIENT_ID = '65f0c0ffee00000000000b0a-worker';
const CLIENT_SECRET = 'worker-test-client-secret-41d2';
const KEY = CredentialsKey.generate();
const OAUTH_ENV = { CREDENTIALS_KEY: KEY, GHL_CLIENT_ID: CLIENT_ID, GHL_CLIENT_SECRET: CLIENT_SECRET };

interface OAuthWorld {
  h: Harness;
  store: CredentialStore;
  taskIds: string[];
  /** The stored OAuth record with `expiresAt` replaced: how soon the worker believes it expires. */
  believeExpiresAt: (expiresAt: number) => Promise<void>;
}

/**
 * A harness (no worker yet) whose sandbox has the marketplace app and an OAuth location LOC_O with
 * `tasks` open tasks, installed through the real code exchange and stored in the encrypted store.
 */
async function oauthWorld(
  options: { tasks: number; accessTokenTtlMs?: number; env?: Record<string, string> } = { tasks: 1 },
): Promise<OAuthWorld> {
  const harnessOptions: HarnessOptions = {
    startWorker: false,
    env: { ...OAUTH_ENV, ...options.env },
    ...(options.accessTokenTtlMs !== undefined && {
      sandbox: { accessTokenTtlMs: options.accessTokenTtlMs },
    }),
  };
  const h = await openHarness(harnessOptions);
  const taskIds = Array.from({ length: options.tasks }, () => newTaskId('oauth'));
  const code = `install-${randomUUID()}`;
  await h.sandbox.control.seed({
    locations: [{ id: LOC_O, tokens: [] }],
    contacts: [{ id: CONTACT_O, locationId: LOC_O, email: 'o@example.com' }],
    tasks: taskIds.map((id) => ({ id, contactId: CONTACT_O, title: `Task ${id}`, completed: false })),
    oauth: {
      apps: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }],
      codes: [{ code, clientId: CLIENT_ID, userType: 'Location', locationId: LOC_O }],
    },
  });
  const store = createCredentialStore({
    redis: h.connection(),
    prefix: h.prefix,
    key: CredentialsKey.parse(KEY),
  });
  const oauth = createOAuthClient({
    baseUrl: h.sandbox.url,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    timeoutMs: 2_000,
  });
  await saveInstall(store, await oauth.exchangeCode(code));
  const believeExpiresAt = async (expiresAt: number): Promise<void> => {
    const record = (await store.getLocation(LOC_O)) as OAuthLocationCredentials;
    await store.putLocation({ ...record, expiresAt });
  };
  return { h, store, taskIds, believeExpiresAt };
}

function eventForO(taskId: string): TaskEvent {
  return { ...eventFor(taskId), ghl: { locationId: LOC_O, contactId: CONTACT_O, taskId } };
}

async function refreshCalls(h: Harness): Promise<number> {
  const calls = await h.sandbox.control.calls({ path: '/oauth/token', method: 'POST' });
  return calls.filter((call) => (call.body as Record<string, unknown>).grant_type === 'refresh_token').length;
}

async function completedTasks(h: Harness, taskIds: string[]): Promise<number> {
  const tasks = await Promise.all(taskIds.map((id) => h.sandbox.control.getTask(id)));
  return tasks.filter((task) => task?.completed === true).length;
}

describe('worker with OAuth credentials from the store', () => {
  it('When two worker processes need a refresh of the same location at once, then exactly one refresh reaches GHL and every job completes', async () => {
    const { h, taskIds, believeExpiresAt, store } = await oauthWorld({ tasks: 30 });
    // Inside the 5-min refresh margin: the first job of each process wants a new token.
    await believeExpiresAt(Date.now() + 60_000);
    const env = workerEnv(h.sandbox.url, h.prefix, OAUTH_ENV);
    const workers = [spawnWorker(env), spawnWorker(env)];
    await Promise.all(workers.map((worker) => waitForWorkerStarted(worker)));

    const jobs = await Promise.all(taskIds.map((id) => h.enqueue(eventForO(id))));
    await Promise.all(jobs.map((job) => h.finished(job, 30_000)));

    expect(await refreshCalls(h)).toBe(1);
    expect(await completedTasks(h, taskIds)).toBe(taskIds.length);
    expect(await h.deadLetterCount()).toBe(0);
    // Both processes took jobs, so both went through the refresh (one holding the lock, one waiting).
    for (const worker of workers) {
      expect(worker.logLines().filter((line) => line.msg === 'task updated').length).toBeGreaterThan(0);
    }
    const stored = (await store.getLocation(LOC_O)) as OAuthLocationCredentials;
    expect(stored.expiresAt).toBeGreaterThan(Date.now() + 60 * 60_000);
    // Neither the client secret, the key nor a token reaches the logs.
    for (const worker of workers) {
      expect(worker.output()).not.toContain(CLIENT_SECRET);
      expect(worker.output()).not.toContain(KEY);
      expect(worker.output()).not.toContain(stored.accessToken);
      expect(worker.output()).not.toContain(stored.refreshToken);
    }
  }, 60_000);

  it('When the access token expires mid-run, then it is refreshed (on the 401 and before expiry) and no job is lost', async () => {
    const { h, taskIds, believeExpiresAt } = await oauthWorld({
      tasks: 40,
      accessTokenTtlMs: 1_500,
      // 4 at a time, each answered after 400 ms: the run lasts about 4 s, two or three token lifetimes.
      env: { WORKER_CONCURRENCY: '4' },
    });
    for (const taskId of taskIds) await h.sandbox.control.injectFault({ taskId, latencyMs: 400 });
    // The worker believes the first token good for an hour; GHL expires it after 1.5 s, so the first
    // expiry is met as a 401 and renewed through onUnauthorized; later tokens are renewed ahead.
    await believeExpiresAt(Date.now() + 60 * 60_000);
    const config = h.config;
    const { provider } = createWorkerCredentials({
      config,
      redis: h.connection(),
      logger: h.logger,
      refreshMarginMs: 300,
    });
    const started = Date.now();
    h.startWorker(config, undefined, provider);

    const jobs = await Promise.all(taskIds.map((id) => h.enqueue(eventForO(id))));
    await Promise.all(jobs.map((job) => h.finished(job, 30_000)));

    expect(Date.now() - started).toBeGreaterThan(3_000);
    expect(await completedTasks(h, taskIds)).toBe(taskIds.length);
    expect(await h.deadLetterCount()).toBe(0);
    const rejected = (await h.sandbox.control.calls({ method: 'PUT' })).filter((call) => call.status === 401);
    expect(rejected.length).toBeGreaterThan(0);
    expect(await refreshCalls(h)).toBeGreaterThanOrEqual(2);
    expect(h.logsAt(50)).toEqual([]);
  }, 60_000);

  it('When the grant is revoked, then the jobs wait (REAUTH_REQUIRED) without calling GHL again, and one error is logged for the location', async () => {
    const { h, taskIds, store } = await oauthWorld({ tasks: 6 });
    await h.sandbox.control.revokeOAuth({ locationId: LOC_O });
    h.startWorker();

    const first = await Promise.all(taskIds.slice(0, 5).map((id) => h.enqueue(eventForO(id))));
    await waitFor(
      async () =>
        (await Promise.all(first.map(async (job) => (await h.reload(job)).getState()))).every(
          (state) => state === 'delayed',
        ),
      { description: 'every job to be delayed' },
    );
    expect((await store.needsReauth(LOC_O))?.reason).toContain('invalid_grant');
    const putsBefore = (await h.sandbox.control.calls({ method: 'PUT' })).length;

    // A job arriving later waits too, without a call to GHL: the mark answers it.
    const late = await h.enqueue(eventForO(taskIds[5]!));
    await waitFor(async () => (await (await h.reload(late)).getState()) === 'delayed', {
      description: 'the late job to be delayed',
    });
    expect((await h.sandbox.control.calls({ method: 'PUT' })).length).toBe(putsBefore);
    expect(await refreshCalls(h)).toBe(1);

    const delayed = h.logs.filter((line) => line.msg === 'job delayed (no attempt spent)');
    expect(delayed).toHaveLength(6);
    for (const line of delayed) {
      expect(line).toMatchObject({ level: 40, reason: 'REAUTH_REQUIRED', locationId: LOC_O });
      expect(line.delayMs as number).toBeGreaterThan(REAUTH_WAIT_MS - 5_000);
    }
    for (const job of [...first, late]) expect((await h.reload(job)).attemptsMade).toBe(0);
    const errors = h.logsAt(50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ locationId: LOC_O });
    expect(errors[0]?.msg).toContain('reconnection');
    expect(await h.deadLetterCount()).toBe(0);
  }, 30_000);

  it('When the grant is revoked and JOB_MAX_AGE is short, then the jobs dead-letter GHL_REAUTH_REQUIRED and one error is logged for the location', async () => {
    const { h, taskIds } = await oauthWorld({ tasks: 5, env: { JOB_MAX_AGE: '2s' } });
    await h.sandbox.control.revokeOAuth({ locationId: LOC_O });
    h.startWorker();

    const jobs = await Promise.all(taskIds.map((id) => h.enqueue(eventForO(id))));
    for (const job of jobs) expect(await h.failed(job)).toContain('GHL_REAUTH_REQUIRED');

    for (const job of jobs) {
      const letter = await h.deadLetter(job.id ?? '');
      expect(letter?.data).toMatchObject({ reason: 'GHL_REAUTH_REQUIRED' });
      expect(letter?.data.lastError).toContain('REAUTH_REQUIRED');
    }
    const errors = h.logsAt(50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ locationId: LOC_O });
    expect(await completedTasks(h, taskIds)).toBe(0);
  }, 30_000);
});
