import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { GhlError, MissingCredentialsError, createGhlClient, type CredentialsProvider } from '@closeloop/ghl';
import type { RunningSandbox } from '@closeloop/ghl-sandbox';
import { createLogger } from '@closeloop/runtime';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { Redis } from 'ioredis';
import {
  CredentialsBusyError,
  CredentialsKey,
  ReauthRequiredError,
  createCredentialStore,
  createStoreCredentialsProvider,
  saveInstall,
  type CredentialStore,
  type OAuthLocationCredentials,
} from '../src/index.js';
import { oauthClientFor, refreshCalls, seedInstallCode, startOAuthSandbox } from './support.js';

let sandbox: RunningSandbox;
const connections: Redis[] = [];

beforeAll(async () => {
  sandbox = await startOAuthSandbox();
});

afterEach(async () => {
  await Promise.all(connections.splice(0).map((connection) => connection.quit()));
});

afterAll(async () => {
  await sandbox.close();
});

interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** One "process": its own Redis connection, store, OAuth client, logger and provider. */
function startProcess(
  prefix: string,
  key: CredentialsKey,
  lines: LogLine[] = [],
  tuning: { lockTtlMs?: number; oauthTimeoutMs?: number } = {},
) {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  connections.push(redis);
  const store = createCredentialStore({ redis, prefix, key });
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger({ service: 'credentials-test', level: 'info', destination });
  const provider = createStoreCredentialsProvider({
    store,
    oauth: oauthClientFor(sandbox, { timeoutMs: tuning.oauthTimeoutMs ?? 2_000 }),
    redis,
    prefix,
    lockTtlMs: tuning.lockTtlMs ?? 10_000,
    pollIntervalMs: 20,
    logger,
  });
  return { store, provider, lines };
}

/** Two processes sharing one Redis namespace and one CREDENTIALS_KEY. */
function startTwoProcesses() {
  const prefix = uniquePrefix('prov');
  const key = CredentialsKey.parse(CredentialsKey.generate());
  const lines: LogLine[] = [];
  return { prefix, lines, a: startProcess(prefix, key, lines), b: startProcess(prefix, key, lines) };
}

let locations = 0;
function newLocationId(): string {
  locations += 1;
  return `locProv${locations}${Math.random().toString(36).slice(2, 8)}`;
}

/** A real Location install through the sandbox: code → POST /oauth/token → the store. */
async function installLocation(
  store: CredentialStore,
  locationId: string,
): Promise<OAuthLocationCredentials> {
  const tokens = await oauthClientFor(sandbox).exchangeCode(
    await seedInstallCode(sandbox, { userType: 'Location', locationId }),
    'Location',
  );
  await saveInstall(store, tokens);
  return (await store.getLocation(locationId)) as OAuthLocationCredentials;
}

/** Makes the stored access token look as if it expires in a minute (inside the 5 min margin). */
async function expireSoon(store: CredentialStore, locationId: string): Promise<void> {
  const entry = await store.readLocation(locationId);
  if (entry === undefined || entry.record.kind === 'pit') throw new Error('no expiring record');
  expect(await store.compareAndSwap(entry, { ...entry.record, expiresAt: Date.now() + 60_000 })).toBe(true);
}

async function seedTask(locationId: string): Promise<{ contactId: string; taskId: string }> {
  const contactId = `c-${locationId}`;
  const taskId = `t-${locationId}-${Math.random().toString(36).slice(2, 8)}`;
  await sandbox.control.seed({
    locations: [{ id: locationId, tokens: [] }],
    contacts: [{ id: contactId, locationId }],
    tasks: [{ id: taskId, contactId, title: 'Follow up' }],
  });
  return { contactId, taskId };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

function unauthorized(): GhlError {
  return new GhlError({
    code: 'UNAUTHORIZED',
    message: 'GHL PUT /contacts/c/tasks/t/completed answered 401',
    method: 'PUT',
    path: '/contacts/c/tasks/t/completed',
    status: 401,
    body: { statusCode: 401, message: 'Invalid JWT' },
  });
}

describe('store credentials provider', () => {
  it('When two processes need a refresh at the same moment, then exactly one refresh reaches GHL and both get the new token', async () => {
    const { a, b } = startTwoProcesses();
    const locationId = newLocationId();
    const installed = await installLocation(a.store, locationId);
    await expireSoon(a.store, locationId);
    await sandbox.control.clearCalls();

    // Several jobs in each process, all at once.
    const tokens = await Promise.all([
      ...Array.from({ length: 5 }, () => a.provider.getToken(locationId)),
      ...Array.from({ length: 5 }, () => b.provider.getToken(locationId)),
    ]);

    expect(await refreshCalls(sandbox)).toBe(1);
    const stored = (await a.store.getLocation(locationId)) as OAuthLocationCredentials;
    expect(stored.accessToken).not.toBe(installed.accessToken);
    expect(stored.refreshToken).not.toBe(installed.refreshToken);
    expect(stored.expiresAt).toBeGreaterThan(Date.now() + 86_000_000);
    expect(new Set(tokens)).toEqual(new Set([stored.accessToken]));

    // The new pair was persisted: the stored refresh token is the live one (the old one is spent).
    const client = oauthClientFor(sandbox);
    await expect(client.refresh(installed.refreshToken, 'Location')).rejects.toBeInstanceOf(
      ReauthRequiredError,
    );
    await expect(client.refresh(stored.refreshToken, 'Location')).resolves.toMatchObject({ locationId });
  });

  it('When the refresh is slow, then the process without the lock waits for the pair the other one stores', async () => {
    const { a, b } = startTwoProcesses();
    const locationId = newLocationId();
    await installLocation(a.store, locationId);
    await expireSoon(a.store, locationId);
    await sandbox.control.clearCalls();
    await sandbox.control.injectFault({ latencyMs: 400, count: 1 });

    const [first, second] = await Promise.all([
      a.provider.getToken(locationId),
      b.provider.getToken(locationId),
    ]);
    expect(first).toBe(second);
    expect(await refreshCalls(sandbox)).toBe(1);
    expect(((await a.store.getLocation(locationId)) as OAuthLocationCredentials).accessToken).toBe(first);
  });

  it('When another process holds the lock and never stores a pair, then the wait ends with a retryable error', async () => {
    const prefix = uniquePrefix('busy');
    const process = startProcess(prefix, CredentialsKey.parse(CredentialsKey.generate()), [], {
      lockTtlMs: 300,
      oauthTimeoutMs: 100,
    });
    const locationId = newLocationId();
    await installLocation(process.store, locationId);
    await expireSoon(process.store, locationId);
    // A holder that crashed mid-refresh, and whose lock outlives this process's wait.
    const holder = connections[0]!;
    await holder.set(`${prefix}:credentials:lock:location:${locationId}`, 'someone-else', 'PX', 5_000);
    await sandbox.control.clearCalls();

    const error = await rejection(process.provider.getToken(locationId));
    expect(error).toBeInstanceOf(CredentialsBusyError);
    expect(error).toMatchObject({ retryable: true, locationId });
    expect(await refreshCalls(sandbox)).toBe(0);

    // Once the lock is gone, the next call refreshes.
    await holder.del(`${prefix}:credentials:lock:location:${locationId}`);
    await expect(process.provider.getToken(locationId)).resolves.toMatch(/\S+/);
    expect(await refreshCalls(sandbox)).toBe(1);
  });

  it('When the lock would expire before two OAuth requests could end, then the provider refuses the configuration', () => {
    expect(() =>
      startProcess(uniquePrefix('cfg'), CredentialsKey.parse(CredentialsKey.generate()), [], {
        lockTtlMs: 3_000,
        oauthTimeoutMs: 2_000,
      }),
    ).toThrow(/lockTtlMs must exceed/);
  });

  it('When GHL answers 401 to a token another process already refreshed, then no second refresh is made', async () => {
    const { a, b } = startTwoProcesses();
    const locationId = newLocationId();
    const installed = await installLocation(a.store, locationId);
    await expireSoon(a.store, locationId);
    await sandbox.control.clearCalls();

    const renewed = await a.provider.getToken(locationId);
    expect(await refreshCalls(sandbox)).toBe(1);

    // Process B had sent the old token; GHL refused it.
    expect(await b.provider.onUnauthorized?.(locationId, installed.accessToken, unauthorized())).toBe(true);
    expect(await b.provider.getToken(locationId)).toBe(renewed);
    expect(await refreshCalls(sandbox)).toBe(1);
  });

  it('When GHL answers 401 to the current token, then the GHL client refreshes once and its retry completes the task', async () => {
    const { a } = startTwoProcesses();
    const locationId = newLocationId();
    const installed = await installLocation(a.store, locationId);
    const { contactId, taskId } = await seedTask(locationId);
    await sandbox.control.clearCalls();
    await sandbox.control.injectFault({ status: 401, taskId, count: 1 });

    const ghl = createGhlClient({ baseUrl: sandbox.url, credentials: a.provider, timeoutMs: 5_000 });
    try {
      const { data } = await ghl.completeTask({ locationId, contactId, taskId, completed: true });
      expect(data.completed).toBe(true);
    } finally {
      await ghl.close();
    }
    expect(await refreshCalls(sandbox)).toBe(1);
    const calls = await sandbox.control.calls({ path: `/tasks/${taskId}/completed` });
    expect(calls.map((call) => call.status)).toEqual([401, 200]);
    expect((await a.store.getLocation(locationId)) as OAuthLocationCredentials).not.toMatchObject({
      accessToken: installed.accessToken,
    });
    expect((await sandbox.control.getTask(taskId))?.completed).toBe(true);
  });

  it('When the app was uninstalled, then the refresh is invalid_grant: the location needs reauth, one error is logged, and calls stop', async () => {
    const { a, b, lines } = startTwoProcesses();
    const locationId = newLocationId();
    await installLocation(a.store, locationId);
    await expireSoon(a.store, locationId);
    await sandbox.control.revokeOAuth({ locationId });
    await sandbox.control.clearCalls();

    const errors = await Promise.all([
      ...Array.from({ length: 3 }, () => rejection(a.provider.getToken(locationId))),
      ...Array.from({ length: 3 }, () => rejection(b.provider.getToken(locationId))),
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(ReauthRequiredError);
      expect(error).toMatchObject({ code: 'GHL_REAUTH_REQUIRED', locationId });
    }
    expect(await refreshCalls(sandbox)).toBe(1);
    expect((await a.store.needsReauth(locationId))?.reason).toContain('invalid_grant');
    expect((await a.store.list()).find((entry) => entry.locationId === locationId)).toMatchObject({
      needsReauth: true,
    });

    // Later jobs: no refresh attempt, the same distinct error, no new log line.
    await expect(b.provider.getToken(locationId)).rejects.toBeInstanceOf(ReauthRequiredError);
    expect(await b.provider.onUnauthorized?.(locationId, 'whatever', unauthorized())).toBe(false);
    expect(await refreshCalls(sandbox)).toBe(1);
    const reauthErrors = lines.filter((line) => line.level === 50);
    expect(reauthErrors).toHaveLength(1);
    expect(reauthErrors[0]).toMatchObject({ locationId, msg: expect.stringContaining('needs reconnection') });

    // The GHL client passes the error through unchanged (it is not NO_CREDENTIALS), for the worker to park the job.
    const ghl = createGhlClient({ baseUrl: sandbox.url, credentials: b.provider });
    try {
      await expect(
        ghl.completeTask({ locationId, contactId: 'c1', taskId: 't1', completed: true }),
      ).rejects.toBeInstanceOf(ReauthRequiredError);
    } finally {
      await ghl.close();
    }

    // Installing again reconnects it.
    await installLocation(a.store, locationId);
    await expect(a.provider.getToken(locationId)).resolves.toMatch(/\S+/);
  });

  it('When a 401 comes from an uninstalled app, then onUnauthorized marks the location and answers false', async () => {
    const { a, lines } = startTwoProcesses();
    const locationId = newLocationId();
    const installed = await installLocation(a.store, locationId);
    await sandbox.control.revokeOAuth({ locationId });
    expect(await a.provider.onUnauthorized?.(locationId, installed.accessToken, unauthorized())).toBe(false);
    expect(await a.store.needsReauth(locationId)).toBeDefined();
    await expect(a.provider.getToken(locationId)).rejects.toBeInstanceOf(ReauthRequiredError);
    expect(lines.filter((line) => line.level === 50)).toHaveLength(1);
  });

  it('When a Company install approves a location without a record, then its token is minted on demand and completes a task', async () => {
    const { a, b } = startTwoProcesses();
    const locationId = newLocationId();
    const companyId = `comp${locationId}`;
    const tokens = await oauthClientFor(sandbox).exchangeCode(
      await seedInstallCode(sandbox, { userType: 'Company', companyId, approvedLocations: [locationId] }),
      'Company',
    );
    expect(await saveInstall(a.store, tokens)).toEqual({
      userType: 'Company',
      companyId,
      approvedLocations: [locationId],
    });
    const { contactId, taskId } = await seedTask(locationId);
    await sandbox.control.clearCalls();

    const [first, second] = await Promise.all([
      a.provider.getToken(locationId),
      b.provider.getToken(locationId),
    ]);
    expect(first).toBe(second);
    expect((await sandbox.control.calls({ path: '/oauth/locationToken' })).length).toBe(1);
    expect(await a.store.getLocation(locationId)).toMatchObject({
      kind: 'company-minted',
      companyId,
      accessToken: first,
    });

    const ghl = createGhlClient({ baseUrl: sandbox.url, credentials: b.provider });
    try {
      const { data } = await ghl.completeTask({ locationId, contactId, taskId, completed: true });
      expect(data.completed).toBe(true);
    } finally {
      await ghl.close();
    }

    // Both the minted token and the company token near expiry: one company refresh, then one mint.
    await expireSoon(a.store, locationId);
    const company = (await a.store.readCompany(companyId))!;
    expect(await a.store.compareAndSwap(company, { ...company.record, expiresAt: Date.now() + 1_000 })).toBe(
      true,
    );
    await sandbox.control.clearCalls();
    const [third, fourth] = await Promise.all([
      a.provider.getToken(locationId),
      b.provider.getToken(locationId),
    ]);
    expect(third).toBe(fourth);
    expect(third).not.toBe(first);
    expect(await refreshCalls(sandbox)).toBe(1);
    expect((await sandbox.control.calls({ path: '/oauth/locationToken' })).length).toBe(1);
    const refreshedCompany = (await a.store.getCompany(companyId))!;
    expect(refreshedCompany.refreshToken).not.toBe(company.record.refreshToken);
    expect(refreshedCompany.approvedLocations).toEqual([locationId]);
  });

  it('When a location has a PIT, then it is used as is and a 401 is final', async () => {
    const { a } = startTwoProcesses();
    const locationId = newLocationId();
    await a.store.putLocation({ kind: 'pit', locationId, token: 'pit-static-token-1' });
    expect(await a.provider.getToken(locationId)).toBe('pit-static-token-1');
    expect(await a.provider.onUnauthorized?.(locationId, 'pit-static-token-1', unauthorized())).toBe(false);
  });

  it('When a location has no credentials, then getToken says so and the GHL client sends nothing', async () => {
    const { a } = startTwoProcesses();
    const provider: CredentialsProvider = a.provider;
    await expect(provider.getToken('locNobody')).rejects.toBeInstanceOf(MissingCredentialsError);
    await expect(provider.getToken(undefined)).rejects.toBeInstanceOf(MissingCredentialsError);
    const ghl = createGhlClient({ baseUrl: sandbox.url, credentials: provider });
    try {
      await expect(
        ghl.completeTask({ locationId: 'locNobody', contactId: 'c1', taskId: 't1', completed: true }),
      ).rejects.toMatchObject({ code: 'NO_CREDENTIALS' });
    } finally {
      await ghl.close();
    }
  });

  it('When GHL refuses a token for a missing scope, then no refresh is tried', async () => {
    const { a } = startTwoProcesses();
    const locationId = newLocationId();
    const installed = await installLocation(a.store, locationId);
    await sandbox.control.clearCalls();
    const scopeError = new GhlError({
      code: 'UNAUTHORIZED',
      message: 'GHL answered 401',
      method: 'PUT',
      path: '/x',
      status: 401,
      body: { statusCode: 401, message: 'The token is not authorized for this scope.' },
    });
    expect(await a.provider.onUnauthorized?.(locationId, installed.accessToken, scopeError)).toBe(false);
    expect(await refreshCalls(sandbox)).toBe(0);
  });
});
