import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  CredentialsKey,
  createCredentialStore,
  createOAuthClient,
  type CredentialStore,
  type OAuthClient,
} from '@closeloop/credentials';
import { startSandbox, type RunningSandbox } from '@closeloop/ghl-sandbox';
import { loadConfig } from '../src/config.js';
import { startTestReceiver, type TestReceiver } from './helpers.js';

const CLIENT_ID = '66a0c0ffee0000000000000b-cl0531';
const CLIENT_SECRET = 'receiver-test-client-secret-4b1d9e';
const REDIRECT_URI = 'https://closeloop.example/oauth/callback';
const KEY = CredentialsKey.generate();

let sandbox: RunningSandbox;
let receiver: TestReceiver;
let store: CredentialStore;
/** The app's own client, to prove that what the callback stored is a live pair at the sandbox. */
let oauth: OAuthClient;
/** Every code sent and token stored in this file: none may ever reach the receiver's log. */
const secrets = new Set<string>([CLIENT_SECRET, KEY]);

beforeAll(async () => {
  sandbox = await startSandbox();
  await sandbox.control.seed({
    oauth: { apps: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI }] },
  });
  receiver = await startTestReceiver({
    GHL_CLIENT_ID: CLIENT_ID,
    GHL_CLIENT_SECRET: CLIENT_SECRET,
    GHL_REDIRECT_URI: REDIRECT_URI,
    GHL_BASE_URL: sandbox.url,
    CREDENTIALS_KEY: KEY,
  });
  store = createCredentialStore({
    redis: receiver.redis,
    prefix: receiver.prefix,
    key: CredentialsKey.parse(KEY),
  });
  oauth = createOAuthClient({
    baseUrl: sandbox.url,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    redirectUri: REDIRECT_URI,
    timeoutMs: 2_000,
  });
});

afterAll(async () => {
  await receiver?.close();
  await sandbox?.close();
});

beforeEach(async () => {
  await sandbox.control.clearFaults();
});

let codes = 0;
async function seedCode(
  install:
    | { userType: 'Location'; locationId: string }
    | { userType: 'Company'; companyId: string; approvedLocations: string[] },
): Promise<string> {
  codes += 1;
  const code = `receiver-install-code-${codes}-${Math.random().toString(36).slice(2)}`;
  await sandbox.control.seed({ oauth: { codes: [{ code, clientId: CLIENT_ID, ...install }] } });
  secrets.add(code);
  return code;
}

function callback(query: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${receiver.url}/oauth/callback${query}`, init);
}

async function errorOf(response: Response): Promise<{ code: string; message: string }> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  return body.error;
}

function expectNoSecretInLogs(): void {
  const logs = receiver.logs.join('\n');
  expect(logs).not.toBe('');
  for (const secret of secrets) expect(logs).not.toContain(secret);
}

describe('GET /oauth/callback', () => {
  it('When a Location install comes back with its code, then its pair is stored for that location and the page says so', async () => {
    const code = await seedCode({ userType: 'Location', locationId: 'locInstall1' });
    const before = Date.now();

    const response = await callback(`?code=${encodeURIComponent(code)}`);

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const page = await response.text();
    expect(page).toContain('closeloop is connected to location locInstall1.');
    const record = await store.getLocation('locInstall1');
    expect(record).toMatchObject({ kind: 'oauth', locationId: 'locInstall1', userType: 'Location' });
    if (record?.kind !== 'oauth') throw new Error('expected an OAuth record');
    secrets.add(record.accessToken).add(record.refreshToken);
    expect(page).not.toContain(record.accessToken);
    expect(record.expiresAt).toBeGreaterThanOrEqual(before + 86_399_000);
    expect(record.expiresAt).toBeLessThanOrEqual(Date.now() + 86_399_000);
    // The stored refresh token is the live one GHL issued for this install.
    const refreshed = await oauth.refresh(record.refreshToken, 'Location');
    expect(refreshed.locationId).toBe('locInstall1');
    secrets.add(refreshed.accessToken).add(refreshed.refreshToken);

    // The exchange was the form oauth.json declares, with the app's redirect URI.
    const exchanges = await sandbox.control.calls({ path: '/oauth/token' });
    expect(
      exchanges.find(
        (call) => (call.body as Record<string, unknown> | undefined)?.grant_type === 'authorization_code',
      )?.body,
    ).toMatchObject({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
    });

    // A code works once: the same redirect again (a reload, a replay) is refused.
    const reused = await callback(`?code=${encodeURIComponent(code)}`);
    expect(reused.status).toBe(400);
    const refusal = await errorOf(reused);
    expect(refusal.code).toBe('OAUTH_EXCHANGE_FAILED');
    expect(refusal.message).toContain('invalid_grant');
    expect(JSON.stringify(refusal)).not.toContain(code);
    // Still the pair of the first install, refreshed above: nothing was overwritten.
    expect(await store.getLocation('locInstall1')).toMatchObject({ kind: 'oauth' });

    expectNoSecretInLogs();
    const access = receiver.logs
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request' && line.path === '/oauth/callback');
    expect(access.map((line) => line.status)).toEqual([200, 400]);
    expect(access[0]).toMatchObject({ install: 'Location', locationId: 'locInstall1' });
    expect(access[1]).toMatchObject({ code: 'OAUTH_EXCHANGE_FAILED' });
  });

  it('When a Company install comes back, then the company token and its approved locations are stored, and a location token can be minted from it', async () => {
    const code = await seedCode({
      userType: 'Company',
      companyId: 'coInstall1',
      approvedLocations: ['locAgencyA', 'locAgencyB'],
    });

    const response = await callback(`?code=${encodeURIComponent(code)}`);

    expect(response.status).toBe(200);
    expect(await response.text()).toContain(
      'closeloop is connected to company coInstall1 (2 locations: locAgencyA, locAgencyB).',
    );
    const company = await store.getCompany('coInstall1');
    expect(company).toMatchObject({
      companyId: 'coInstall1',
      approvedLocations: ['locAgencyA', 'locAgencyB'],
    });
    if (!company) throw new Error('expected a company record');
    secrets.add(company.accessToken).add(company.refreshToken);
    expect(await store.approvingCompany('locAgencyB')).toBe('coInstall1');
    const listed = (await store.list()).filter((location) => location.companyId === 'coInstall1');
    expect(listed.map(({ locationId, kind }) => ({ locationId, kind }))).toEqual([
      { locationId: 'locAgencyA', kind: 'company-approved' },
      { locationId: 'locAgencyB', kind: 'company-approved' },
    ]);
    const minted = await oauth.mintLocationToken(company.accessToken, 'coInstall1', 'locAgencyA');
    expect(minted.locationId).toBe('locAgencyA');
    secrets.add(minted.accessToken);

    expectNoSecretInLogs();
  });

  it('When the code is missing or doubled, or the method is not GET, then the answer is a 4xx and GHL is not called', async () => {
    await sandbox.control.clearCalls();

    const [missing, empty, doubled, head, post] = await Promise.all([
      callback(''),
      callback('?code='),
      callback('?code=a&code=b'),
      callback('?code=abc', { method: 'HEAD' }),
      callback('?code=abc', { method: 'POST' }),
    ]);

    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(empty.status).toBe(400);
    expect(await errorOf(empty)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(doubled.status).toBe(400);
    expect(await errorOf(doubled)).toMatchObject({ code: 'BAD_REQUEST' });
    // A HEAD (a link preview) must not spend the code.
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    expect(post.status).toBe(405);
    expect(await errorOf(post)).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
    expect(await sandbox.control.calls({ path: '/oauth' })).toEqual([]);
  });

  it("When GHL's token endpoint cannot be reached, then the answer is 503 OAUTH_UNAVAILABLE and the unspent code works on a reload", async () => {
    const code = await seedCode({ userType: 'Location', locationId: 'locInstall2' });
    await sandbox.control.injectFault({ resetConnection: true, count: 1 });

    const failed = await callback(`?code=${encodeURIComponent(code)}`);

    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('5');
    expect(await errorOf(failed)).toMatchObject({ code: 'OAUTH_UNAVAILABLE' });
    expect(await store.getLocation('locInstall2')).toBeUndefined();

    const reloaded = await callback(`?code=${encodeURIComponent(code)}`);
    expect(reloaded.status).toBe(200);
    const record = await store.getLocation('locInstall2');
    expect(record).toMatchObject({ kind: 'oauth', locationId: 'locInstall2' });
    if (record?.kind === 'oauth') secrets.add(record.accessToken).add(record.refreshToken);
    expectNoSecretInLogs();
  });

  it('When the app is not configured, then the route answers 503 SOURCE_NOT_CONFIGURED', async () => {
    const plain = await startTestReceiver();
    try {
      const response = await fetch(`${plain.url}/oauth/callback?code=anything`);
      expect(response.status).toBe(503);
      expect(await errorOf(response)).toMatchObject({ code: 'SOURCE_NOT_CONFIGURED' });
    } finally {
      await plain.close();
    }
  });
});

describe('OAuth callback configuration', () => {
  const base = { WEBHOOK_SECRET: undefined, INTERNAL_API_KEY: 'test-internal-key-7f3a9c1e5b2d4f60' };

  it('When some of GHL_CLIENT_ID, GHL_CLIENT_SECRET, GHL_REDIRECT_URI and CREDENTIALS_KEY are set, then each missing one is a start-up problem that repeats no value', () => {
    const result = loadConfig({ ...base, GHL_CLIENT_ID: CLIENT_ID, GHL_CLIENT_SECRET: CLIENT_SECRET });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.filter((problem) => problem.startsWith('GHL_REDIRECT_URI: required with'))).toHaveLength(
      1,
    );
    expect(problems.filter((problem) => problem.startsWith('CREDENTIALS_KEY: required with'))).toHaveLength(
      1,
    );
    expect(problems.join('\n')).not.toContain(CLIENT_SECRET);

    const invalid = loadConfig({
      ...base,
      GHL_CLIENT_ID: CLIENT_ID,
      GHL_CLIENT_SECRET: CLIENT_SECRET,
      GHL_REDIRECT_URI: 'not a url',
      CREDENTIALS_KEY: 'not-a-key-at-all',
    });
    const invalidProblems = invalid.ok ? [] : invalid.problems;
    expect(invalidProblems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^GHL_REDIRECT_URI: must be a http:\/\/ or https:\/\/ URL/),
        expect.stringMatching(/^CREDENTIALS_KEY: .*entry 1 must be base64 of exactly 32 bytes/),
      ]),
    );
    expect(invalidProblems.join('\n')).not.toContain('not-a-key-at-all');
  });

  it('When all four are set, the callback is on with the default GHL base URL; with none (CREDENTIALS_KEY alone: a PIT store), it is off', () => {
    const on = loadConfig({
      ...base,
      GHL_CLIENT_ID: CLIENT_ID,
      GHL_CLIENT_SECRET: CLIENT_SECRET,
      GHL_REDIRECT_URI: REDIRECT_URI,
      CREDENTIALS_KEY: KEY,
    });
    expect(on.ok && on.config.oauth).toMatchObject({
      baseUrl: 'https://services.leadconnectorhq.com',
      clientId: CLIENT_ID,
      redirectUri: REDIRECT_URI,
    });
    const off = loadConfig({ ...base, CREDENTIALS_KEY: KEY });
    expect(off.ok && off.config.oauth).toBeUndefined();
    expect(off.ok).toBe(true);
  });
});
