import { describe, expect, it } from '@jest/globals';
import { CredentialsKey, ReauthRequiredError, createCredentialStore } from '@closeloop/credentials';
import { describeConfig, loadConfig } from '../src/config.js';
import { REAUTH_WAIT_MS, decide, type PolicyContext } from '../src/failure-policy.js';
import { LOC_A, LOC_B, TOKEN_A, TOKEN_B, configFrom, eventFor, newTaskId, useCleanup } from './harness.js';

const { harness } = useCleanup();
const KEY = CredentialsKey.generate();
const CLIENT_SECRET = 'worker-config-client-secret-88aa';

describe('worker credentials configuration', () => {
  it('When only CREDENTIALS_KEY is set, then it is a credential source and no location is the default', () => {
    const result = loadConfig({ CREDENTIALS_KEY: KEY });
    expect(result.ok).toBe(true);
    expect(result.ok && result.config.ghl.credentialsKey?.keyIds).toHaveLength(1);
    expect(result.ok && result.config.ghl.tokens).toEqual({});
    expect(result.ok && result.config.ghl.oauthApp).toBeUndefined();
  });

  it('When one env location is combined with the store, then it is not taken as the default (the store may hold others)', () => {
    const result = loadConfig({ CREDENTIALS_KEY: KEY, GHL_LOCATION_TOKENS: 'locA=pit-a' });
    expect(result.ok && result.config.ghl.defaultLocationId).toBeUndefined();
    const named = loadConfig({
      CREDENTIALS_KEY: KEY,
      GHL_LOCATION_TOKENS: 'locA=pit-a',
      GHL_LOCATION_ID: 'locZ',
    });
    expect(named.ok && named.config.ghl.defaultLocationId).toBe('locZ');
  });

  it('When the OAuth app is half given, the key is malformed and there is no other source, then every problem is listed and no secret appears', () => {
    const result = loadConfig({ CREDENTIALS_KEY: 'not-base64-key!', GHL_CLIENT_SECRET: CLIENT_SECRET });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.some((problem) => problem.startsWith('CREDENTIALS_KEY:'))).toBe(true);
    expect(problems).toContainEqual(expect.stringMatching(/^GHL_CLIENT_ID: required with GHL_CLIENT_SECRET/));
    expect(problems.join('\n')).not.toContain(CLIENT_SECRET);
    expect(problems.join('\n')).not.toContain('not-base64-key!');
  });

  it('When GHL_CLIENT_ID is given without the store, then CREDENTIALS_KEY is asked for', () => {
    const result = loadConfig({
      GHL_TOKEN: 'pit',
      GHL_LOCATION_ID: 'locA',
      GHL_CLIENT_ID: 'app',
      GHL_CLIENT_SECRET: 's',
    });
    expect(result.ok ? [] : result.problems).toEqual([
      'CREDENTIALS_KEY: required with GHL_CLIENT_ID (OAuth tokens live in the credential store)',
    ]);
  });

  it('When no credential source is set, then the problem names all three', () => {
    const result = loadConfig({});
    expect(result.ok ? [] : result.problems).toContainEqual(expect.stringContaining('CREDENTIALS_KEY'));
  });

  it('When the start-up line is built, then it says a store and an app are configured without the key, the client id or the secret', () => {
    const config = configFrom({
      CREDENTIALS_KEY: KEY,
      GHL_CLIENT_ID: 'app-client-id-1',
      GHL_CLIENT_SECRET: CLIENT_SECRET,
    });
    const described = describeConfig(config);
    expect(described).toMatchObject({ credentialStore: true, oauthRefresh: true });
    const text = JSON.stringify(described);
    for (const secret of [KEY, CLIENT_SECRET, 'app-client-id-1']) expect(text).not.toContain(secret);
  });
});

describe('failure policy for a location that must be reconnected', () => {
  const context: PolicyContext = {
    attemptsMade: 2,
    jobAttempts: 100,
    retry: { attempts: 8, baseMs: 1_000, capMs: 300_000 },
    now: 1_000_000,
    random: () => 0.5,
    addedAt: 1_000_000,
    maxAgeMs: 72 * 3_600_000,
  };
  const error = new ReauthRequiredError('invalid_grant: revoked', { locationId: LOC_A });

  it('When getToken throws ReauthRequiredError, then the job waits REAUTH_WAIT_MS plus jitter, logged at warn, no attempt spent', () => {
    const decision = decide({ kind: 'failed', error }, context);
    expect(decision).toMatchObject({ kind: 'delay', reason: 'REAUTH_REQUIRED', logLevel: 'warn' });
    const wait = decision.kind === 'delay' ? decision.untilMs - context.now : 0;
    expect(wait).toBeGreaterThanOrEqual(REAUTH_WAIT_MS);
    expect(wait).toBeLessThanOrEqual(REAUTH_WAIT_MS + 30_000);
  });

  it('When the wait would pass JOB_MAX_AGE, then it dead-letters GHL_REAUTH_REQUIRED at warn (the location was logged as an error once)', () => {
    expect(decide({ kind: 'failed', error }, { ...context, maxAgeMs: 60_000 })).toEqual({
      kind: 'dead-letter',
      reason: 'GHL_REAUTH_REQUIRED',
      waitingFor: 'REAUTH_REQUIRED',
      logLevel: 'warn',
    });
  });
});

describe('worker credentials composition', () => {
  it('When a PIT is stored in the store, then its location works like one in GHL_LOCATION_TOKENS, env tokens win for their locations, and a location in neither dead-letters NO_CREDENTIALS', async () => {
    const taskA = newTaskId();
    const taskB = newTaskId();
    const h = await harness({
      startWorker: false,
      tasks: [{ id: taskA }, { id: taskB, location: 'B' }],
      env: { CREDENTIALS_KEY: KEY, GHL_LOCATION_TOKENS: `${LOC_A}=${TOKEN_A}` },
    });
    const store = createCredentialStore({
      redis: h.connection(),
      prefix: h.prefix,
      key: CredentialsKey.parse(KEY),
    });
    await store.putLocation({ kind: 'pit', locationId: LOC_B, token: TOKEN_B });
    // A stale record for an env location: the env token must be the one sent.
    await store.putLocation({ kind: 'pit', locationId: LOC_A, token: 'stale-token-in-the-store' });
    h.startWorker();

    const jobA = await h.enqueue(eventFor(taskA));
    const jobB = await h.enqueue(eventFor(taskB, { location: 'B' }));
    expect(await h.finished(jobA)).toEqual({ taskId: taskA, completed: true, status: 200 });
    expect(await h.finished(jobB)).toEqual({ taskId: taskB, completed: true, status: 200 });
    const puts = await h.sandbox.control.calls({ method: 'PUT' });
    expect(puts.map((call) => call.tokenLocationId).sort()).toEqual([LOC_A, LOC_B]);

    const unknown = await h.enqueue({
      ...eventFor(newTaskId()),
      ghl: { locationId: 'locZ0000000000000009', contactId: 'contactZ000000000009', taskId: newTaskId() },
    });
    expect(await h.failed(unknown)).toContain('NO_CREDENTIALS');
    expect((await h.deadLetter(unknown.id ?? ''))?.data.reason).toBe('NO_CREDENTIALS');
    expect(await h.sandbox.control.calls({ method: 'PUT' })).toHaveLength(2);
  }, 30_000);

  it('When only GHL_TOKEN is set (no store), then single-location mode works unchanged, also for a job naming no location', async () => {
    const taskId = newTaskId();
    const h = await harness({
      tasks: [{ id: taskId }],
      env: { GHL_LOCATION_TOKENS: '', GHL_TOKEN: TOKEN_A, GHL_LOCATION_ID: LOC_A },
    });
    const { contactId } = eventFor(taskId).ghl ?? {};
    const job = await h.enqueue({ ...eventFor(taskId), ghl: { contactId, taskId } });
    expect(await h.finished(job)).toEqual({ taskId, completed: true, status: 200 });
  }, 30_000);
});
