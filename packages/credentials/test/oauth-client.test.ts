import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { RunningSandbox } from '@closeloop/ghl-sandbox';
import { OAUTH_API_VERSION, OAuthError, ReauthRequiredError } from '../src/index.js';
import {
  CLIENT_SECRET,
  REDIRECT_URI,
  oauthClientFor,
  seedInstallCode,
  startOAuthSandbox,
} from './support.js';

let sandbox: RunningSandbox;

beforeAll(async () => {
  sandbox = await startOAuthSandbox();
});

afterAll(async () => {
  await sandbox.close();
});

beforeEach(async () => {
  await sandbox.control.clearFaults();
  await sandbox.control.clearCalls();
});

async function failure(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as Error,
  );
}

describe('OAuth client against the GHL sandbox', () => {
  it('When a Location install code is exchanged, then the pair comes back and the request is the form oauth.json declares', async () => {
    const code = await seedInstallCode(sandbox, { userType: 'Location', locationId: 'locX1' });
    const before = Date.now();
    const tokens = await oauthClientFor(sandbox).exchangeCode(code, 'Location');
    expect(tokens).toMatchObject({ userType: 'Location', locationId: 'locX1', approvedLocations: [] });
    expect(tokens.accessToken).toMatch(/\S+/);
    expect(tokens.refreshToken).toMatch(/\S+/);
    // The sandbox's default lifetime is GHL's 86399 s.
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 86_399_000);
    expect(tokens.expiresAt).toBeLessThanOrEqual(Date.now() + 86_399_000);

    const [call] = await sandbox.control.calls({ path: '/oauth/token' });
    expect(call?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
    // oauth.json declares no Version header on POST /oauth/token.
    expect(call?.headers.version).toBeUndefined();
    expect(call?.body).toEqual({
      client_id: expect.any(String),
      client_secret: '[redacted]',
      grant_type: 'authorization_code',
      code: '[redacted]',
      user_type: 'Location',
      redirect_uri: REDIRECT_URI,
    });
  });

  it('When a refresh token is used, then a new pair comes back and the old refresh token is refused as invalid_grant', async () => {
    const client = oauthClientFor(sandbox);
    const installed = await client.exchangeCode(
      await seedInstallCode(sandbox, { userType: 'Location', locationId: 'locX2' }),
    );
    const refreshed = await client.refresh(installed.refreshToken, 'Location');
    expect(refreshed.refreshToken).not.toBe(installed.refreshToken);
    expect(refreshed.accessToken).not.toBe(installed.accessToken);
    expect(refreshed.locationId).toBe('locX2');

    const error = await failure(client.refresh(installed.refreshToken, 'Location'));
    expect(error).toBeInstanceOf(ReauthRequiredError);
    expect(error.message).toContain('invalid_grant');
    for (const secret of [installed.refreshToken, CLIENT_SECRET]) {
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    }
    const [, , spent] = await sandbox.control.calls({ path: '/oauth/token' });
    expect(spent?.body).toMatchObject({
      grant_type: 'refresh_token',
      refresh_token: '[redacted]',
      user_type: 'Location',
    });
  });

  it('When a Company install mints a location token, then it is sent with the Version header and the company bearer', async () => {
    const client = oauthClientFor(sandbox);
    const company = await client.exchangeCode(
      await seedInstallCode(sandbox, {
        userType: 'Company',
        companyId: 'compX',
        approvedLocations: ['locY1'],
      }),
      'Company',
    );
    expect(company).toMatchObject({ userType: 'Company', companyId: 'compX', approvedLocations: ['locY1'] });
    const minted = await client.mintLocationToken(company.accessToken, 'compX', 'locY1');
    expect(minted.locationId).toBe('locY1');
    expect(minted.expiresAt).toBeGreaterThan(Date.now());
    const [call] = await sandbox.control.calls({ path: '/oauth/locationToken' });
    expect(call?.headers.version).toBe(OAUTH_API_VERSION);
    expect(call?.headers.authorization).toBe('Bearer [redacted]');
    expect(call?.tokenCompanyId).toBe('compX');
    expect(call?.body).toEqual({ companyId: 'compX', locationId: 'locY1' });

    // A location the company did not approve: a permanent 4xx, not a reauth.
    const refused = await failure(client.mintLocationToken(company.accessToken, 'compX', 'locNotApproved'));
    expect(refused).toBeInstanceOf(OAuthError);
    expect(refused).toMatchObject({ retryable: false, status: 400, operation: 'mintLocationToken' });
    expect(refused.message).not.toContain(company.accessToken);
  });

  it('When the client credentials are wrong, then the error is permanent and shows no secret', async () => {
    const client = oauthClientFor(sandbox, { clientSecret: 'wrong-secret-value-123' });
    const error = await failure(client.refresh('rt-some-refresh-token', 'Location'));
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ retryable: false, status: 401, oauthError: 'invalid_client' });
    for (const secret of ['wrong-secret-value-123', 'rt-some-refresh-token']) {
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error)).not.toContain(secret);
    }
  });

  it('When GHL answers 503, then the error is retryable', async () => {
    await sandbox.control.injectFault({ status: 503 });
    const error = await failure(oauthClientFor(sandbox).refresh('rt-x', 'Location'));
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ retryable: true, status: 503, operation: 'refresh' });
  });

  it('When GHL does not answer within the timeout, then the error is retryable and says so', async () => {
    await sandbox.control.injectFault({ latencyMs: 2_000 });
    const error = await failure(
      oauthClientFor(sandbox, { timeoutMs: 200 }).refresh('rt-timeout-secret', 'Location'),
    );
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toMatchObject({ retryable: true, status: undefined });
    expect(error.message).toContain('timed out after 200 ms');
    expect(error.message).not.toContain('rt-timeout-secret');
  });

  it('When nothing listens at the base URL, then the error is retryable', async () => {
    const client = oauthClientFor(sandbox, { baseUrl: 'http://127.0.0.1:9' });
    const error = await failure(client.exchangeCode('code-secret-value'));
    expect(error).toMatchObject({ retryable: true, operation: 'exchangeCode' });
    expect(error.message).not.toContain('code-secret-value');
  });
});
