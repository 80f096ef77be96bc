import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { waitFor } from '@closeloop/test-support';
import { startSandbox, type RunningSandbox, type SandboxSeed } from '../src/index.js';
import { C1, C2, DEMO_SEED, L1, T1, VERSION, callGhl, completePath, rateHeaders } from './helpers.js';

const CLIENT_ID = '6578278e879ad2646715ba9c-lq8x2k1m';
const CLIENT_SECRET = 'sandbox-client-secret-0001';
const OTHER_CLIENT_ID = '6578278e879ad2646715bb00-zz9y8x7w';
const OTHER_SECRET = 'sandbox-client-secret-0002';
const REDIRECT_URI = 'https://closeloop.example/oauth/callback';
const COMPANY = 'company0000000000001';
const L2 = 'otherLocation0000001';
const LOCATION_CODE = 'code-location-0000000000000000000000001';
const COMPANY_CODE = 'code-company-00000000000000000000000001';

const OAUTH_SEED: SandboxSeed = {
  ...DEMO_SEED,
  oauth: {
    apps: [
      { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: REDIRECT_URI },
      { clientId: OTHER_CLIENT_ID, clientSecret: OTHER_SECRET },
    ],
    codes: [
      {
        code: LOCATION_CODE,
        userType: 'Location',
        locationId: L1,
        companyId: COMPANY,
        userId: 'user0000000000000001',
      },
      {
        code: COMPANY_CODE,
        clientId: CLIENT_ID,
        userType: 'Company',
        companyId: COMPANY,
        approvedLocations: [L1],
        isBulkInstallation: true,
      },
    ],
  },
};

// GHL's OAuth document, read directly: @closeloop/test-support's contract loader covers only the
// contacts and locations documents.
const OAUTH_DOCUMENT = JSON.parse(
  readFileSync(new URL('../../../contracts/ghl-openapi/apps/oauth.json', import.meta.url), 'utf8'),
) as {
  components: {
    schemas: Record<string, { properties: Record<string, { type: string }>; required?: string[] }>;
  };
};

/** Every field is one the DTO declares, with its JSON type, and the required ones are there. */
function dtoErrors(schemaName: string, body: unknown): string[] {
  const schema = OAUTH_DOCUMENT.components.schemas[schemaName];
  if (!schema) return [`no schema ${schemaName}`];
  if (typeof body !== 'object' || body === null) return ['not an object'];
  const errors: string[] = [];
  for (const name of schema.required ?? []) if (!(name in body)) errors.push(`${name} is missing`);
  for (const [name, value] of Object.entries(body)) {
    const declared = schema.properties[name];
    if (!declared) errors.push(`${name} is not in ${schemaName}`);
    else if ((Array.isArray(value) ? 'array' : typeof value) !== declared.type) {
      errors.push(`${name} is not a ${declared.type}`);
    }
  }
  return errors;
}

interface FormAnswer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function postForm(
  sandbox: RunningSandbox,
  path: string,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<FormAnswer> {
  const response = await fetch(`${sandbox.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

const token = (sandbox: RunningSandbox, fields: Record<string, string>) =>
  postForm(sandbox, '/oauth/token', { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, ...fields });
const exchange = (sandbox: RunningSandbox, code = LOCATION_CODE) =>
  token(sandbox, {
    grant_type: 'authorization_code',
    code,
    user_type: 'Location',
    redirect_uri: REDIRECT_URI,
  });
const refresh = (sandbox: RunningSandbox, refreshToken: string) =>
  token(sandbox, { grant_type: 'refresh_token', refresh_token: refreshToken, user_type: 'Location' });
const locationToken = (sandbox: RunningSandbox, companyToken: string, locationId = L1, companyId = COMPANY) =>
  postForm(
    sandbox,
    '/oauth/locationToken',
    { companyId, locationId },
    {
      authorization: `Bearer ${companyToken}`,
      version: VERSION,
    },
  );
const completeWith = (sandbox: RunningSandbox, accessToken: string) =>
  callGhl(sandbox.url, {
    method: 'PUT',
    path: completePath(),
    token: accessToken,
    body: { completed: true },
  });
const str = (value: unknown): string => {
  if (typeof value !== 'string') throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
};

describe('OAuth', () => {
  let sandbox: RunningSandbox;

  beforeAll(async () => {
    sandbox = await startSandbox({ burstLimit: 10_000 });
  });
  afterAll(async () => {
    await sandbox.close();
  });
  beforeEach(async () => {
    await sandbox.control.reset();
    await sandbox.control.seed(OAUTH_SEED);
  });

  describe('authorization code', () => {
    it("When a Location install code is exchanged, then the answer is GHL's GetAccessCodeSuccessfulResponseDto for that location", async () => {
      const answer = await exchange(sandbox);

      expect(answer.status).toBe(200);
      expect(dtoErrors('GetAccessCodeSuccessfulResponseDto', answer.body)).toEqual([]);
      expect(answer.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 86_399,
        refresh_token: expect.any(String),
        scope: expect.stringContaining('contacts.write'),
        userType: 'Location',
        companyId: COMPANY,
        locationId: L1,
        userId: 'user0000000000000001',
        isBulkInstallation: false,
      });
      // No budget headers on /oauth (a sandbox choice, docs/ghl-api.md §3.1).
      expect(answer.headers.get('x-ratelimit-max')).toBeNull();
    });

    it('When an OAuth location token is used on a task route, then it works exactly like a PIT of that location', async () => {
      const accessToken = str((await exchange(sandbox)).body.access_token);

      const completed = await completeWith(sandbox, accessToken);
      const otherLocation = await callGhl(sandbox.url, {
        method: 'GET',
        path: `/contacts/${C2}/tasks`,
        token: accessToken,
      });

      expect(completed.status).toBe(200);
      expect(completed.body).toMatchObject({ task: { id: T1, completed: true } });
      expect(rateHeaders(completed.headers)).toMatchObject({ max: '10000', remaining: '9999' });
      expect(otherLocation.status).toBe(403);
      const [call] = await sandbox.control.calls({ path: completePath() });
      expect(call).toMatchObject({ tokenLocationId: L1, headers: { authorization: 'Bearer [redacted]' } });
    });

    it('When a code is exchanged a second time, then it is refused with invalid_grant', async () => {
      expect((await exchange(sandbox)).status).toBe(200);
      const again = await exchange(sandbox);

      expect(again.status).toBe(400);
      expect(again.body).toMatchObject({ error: 'invalid_grant', statusCode: 400 });
      expect(dtoErrors('GetAccessCodeSuccessfulResponseDto', {})).toContain('userId is missing');
    });

    it('When a code is exchanged with another redirect_uri or by an app it was not issued to, then it is refused with invalid_grant', async () => {
      const wrongRedirect = await token(sandbox, {
        grant_type: 'authorization_code',
        code: LOCATION_CODE,
        redirect_uri: 'https://attacker.example/callback',
      });
      const otherApp = await postForm(sandbox, '/oauth/token', {
        client_id: OTHER_CLIENT_ID,
        client_secret: OTHER_SECRET,
        grant_type: 'authorization_code',
        code: COMPANY_CODE,
      });

      expect(wrongRedirect).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(otherApp).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      // Neither spent the code.
      expect((await exchange(sandbox)).status).toBe(200);
    });

    it('When the client secret is wrong or the client unknown, then the answer is 401 invalid_client and no code is spent', async () => {
      const wrongSecret = await postForm(sandbox, '/oauth/token', {
        client_id: CLIENT_ID,
        client_secret: 'not-the-secret',
        grant_type: 'authorization_code',
        code: LOCATION_CODE,
      });
      const unknown = await postForm(sandbox, '/oauth/token', {
        client_id: 'nobody',
        client_secret: CLIENT_SECRET,
        grant_type: 'authorization_code',
        code: LOCATION_CODE,
      });

      expect(wrongSecret).toMatchObject({ status: 401, body: { statusCode: 401, error: 'invalid_client' } });
      expect(unknown.status).toBe(401);
      expect((await exchange(sandbox)).status).toBe(200);
    });

    it("When the form lacks required fields, has unknown ones or is JSON, then the answer is 422 with class-validator's messages", async () => {
      const missing = await postForm(sandbox, '/oauth/token', { client_id: CLIENT_ID, extra: '1' });
      const badEnum = await token(sandbox, { grant_type: 'password', user_type: 'Agency' });
      const json = await fetch(`${sandbox.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          grant_type: 'refresh_token',
        }),
      });

      expect(missing.status).toBe(422);
      expect(missing.body).toEqual({
        statusCode: 422,
        error: 'Unprocessable Entity',
        message: [
          'property extra should not exist',
          'client_secret should not be empty',
          'client_secret must be a string',
          'grant_type should not be empty',
          'grant_type must be one of the following values: authorization_code, refresh_token, client_credentials',
        ],
      });
      expect(badEnum.body.message).toEqual([
        'grant_type must be one of the following values: authorization_code, refresh_token, client_credentials',
        'user_type must be one of the following values: Company, Location',
      ]);
      expect(json.status).toBe(422);
      await json.body?.cancel();
    });

    it('When grant_type is client_credentials or a code is missing, then the answer is 400 with an OAuth error code', async () => {
      const clientCredentials = await token(sandbox, { grant_type: 'client_credentials' });
      const noCode = await token(sandbox, { grant_type: 'authorization_code' });

      expect(clientCredentials).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
      expect(noCode).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    });
  });

  describe('refresh', () => {
    it('When a refresh token is used, then a new pair comes back and the used refresh token is spent (rotation)', async () => {
      const first = (await exchange(sandbox)).body;
      const second = await refresh(sandbox, str(first.refresh_token));
      const reused = await refresh(sandbox, str(first.refresh_token));
      const third = await refresh(sandbox, str(second.body.refresh_token));

      expect(second.status).toBe(200);
      expect(dtoErrors('GetAccessCodeSuccessfulResponseDto', second.body)).toEqual([]);
      expect(second.body).toMatchObject({ userType: 'Location', locationId: L1 });
      expect(second.body.refresh_token).not.toBe(first.refresh_token);
      expect(second.body.access_token).not.toBe(first.access_token);
      expect(reused.status).toBe(400);
      expect(reused.body).toEqual({
        statusCode: 400,
        message: 'Invalid grant: refresh token is invalid',
        error: 'invalid_grant',
        error_description: 'Invalid grant: refresh token is invalid',
      });
      // A refused reuse does not break the chain: the newest token still works.
      expect(third.status).toBe(200);
      expect((await completeWith(sandbox, str(third.body.access_token))).status).toBe(200);
    });

    it("When a refresh token is presented by another app, then it is refused and stays the grant's current token", async () => {
      const first = (await exchange(sandbox)).body;
      const otherApp = await postForm(sandbox, '/oauth/token', {
        client_id: OTHER_CLIENT_ID,
        client_secret: OTHER_SECRET,
        grant_type: 'refresh_token',
        refresh_token: str(first.refresh_token),
      });

      expect(otherApp).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect((await refresh(sandbox, str(first.refresh_token))).status).toBe(200);
    });

    it('When /oauth calls are made, then the call log records them with grant_type (to count refreshes) and never a secret, code or token', async () => {
      const first = (await exchange(sandbox)).body;
      const second = (await refresh(sandbox, str(first.refresh_token))).body;
      await refresh(sandbox, str(first.refresh_token));
      const company = (await exchange(sandbox, COMPANY_CODE)).body;
      const minted = (await locationToken(sandbox, str(company.access_token))).body;

      const calls = await sandbox.control.calls({ path: '/oauth/' });
      const refreshes = calls.filter(
        (call) => (call.body as Record<string, unknown> | undefined)?.grant_type === 'refresh_token',
      );
      expect(refreshes.map((call) => call.status)).toEqual([200, 400]);
      expect(calls[0]).toMatchObject({
        method: 'POST',
        path: '/oauth/token',
        status: 200,
        body: {
          client_id: CLIENT_ID,
          client_secret: '[redacted]',
          grant_type: 'authorization_code',
          code: '[redacted]',
          user_type: 'Location',
          redirect_uri: REDIRECT_URI,
        },
        responseBody: { access_token: '[redacted]', refresh_token: '[redacted]', locationId: L1 },
      });
      const log = JSON.stringify(calls);
      const secrets = [
        CLIENT_SECRET,
        LOCATION_CODE,
        COMPANY_CODE,
        first.access_token,
        first.refresh_token,
        second.access_token,
        second.refresh_token,
        company.access_token,
        company.refresh_token,
        minted.access_token,
      ].map(str);
      for (const secret of secrets) expect(log).not.toContain(secret);
    });
  });

  describe('expiry', () => {
    let shortLived: RunningSandbox;

    beforeAll(async () => {
      shortLived = await startSandbox({ accessTokenTtlMs: 400 });
    });
    afterAll(async () => {
      await shortLived.close();
    });

    it('When an access token has expired, then task routes answer 401 "Invalid JWT" and a refresh gives a working token', async () => {
      await shortLived.control.reset();
      await shortLived.control.seed(OAUTH_SEED);
      const issued = await exchange(shortLived);
      expect(issued.body.expires_in).toBe(0.4);
      expect((await completeWith(shortLived, str(issued.body.access_token))).status).toBe(200);

      const expired = await waitFor(
        async () => {
          const response = await completeWith(shortLived, str(issued.body.access_token));
          return response.status === 401 ? response : undefined;
        },
        { timeoutMs: 5_000, intervalMs: 50, description: 'the access token to expire' },
      );
      const refreshed = await refresh(shortLived, str(issued.body.refresh_token));

      expect(expired.body).toEqual({ statusCode: 401, message: 'Invalid JWT', error: 'Unauthorized' });
      expect(rateHeaders(expired.headers).max).toBeNull();
      expect(refreshed.status).toBe(200);
      expect((await completeWith(shortLived, str(refreshed.body.access_token))).status).toBe(200);
    });
  });

  describe('Company install and location tokens', () => {
    it('When a Company code is exchanged, then the answer carries the company, its approved locations and no locationId', async () => {
      const answer = await exchange(sandbox, COMPANY_CODE);

      expect(answer.status).toBe(200);
      expect(dtoErrors('GetAccessCodeSuccessfulResponseDto', answer.body)).toEqual([]);
      expect(answer.body).toMatchObject({
        userType: 'Company',
        companyId: COMPANY,
        approvedLocations: [L1],
        isBulkInstallation: true,
        scope: expect.stringContaining('oauth.write'),
      });
      expect(answer.body).not.toHaveProperty('locationId');
    });

    it('When a Company token is used on a task route, then it is a 401 "not authorized for this scope"', async () => {
      const company = (await exchange(sandbox, COMPANY_CODE)).body;

      const answer = await completeWith(sandbox, str(company.access_token));

      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ message: 'The token is not authorized for this scope.' });
    });

    it('When a location token is minted for an approved location, then it has no refresh token and works on that location', async () => {
      const company = (await exchange(sandbox, COMPANY_CODE)).body;

      const minted = await locationToken(sandbox, str(company.access_token));
      const used = await completeWith(sandbox, str(minted.body.access_token));

      expect(minted.status).toBe(200);
      expect(dtoErrors('GetLocationAccessTokenSuccessfulResponseDto', minted.body)).toEqual([]);
      expect(minted.body).toEqual({
        access_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 86_399,
        scope: expect.not.stringContaining('oauth.'),
        locationId: L1,
        userId: 'sandboxUser000000001',
        appId: '6578278e879ad2646715ba9c',
      });
      expect(used.status).toBe(200);
      expect((await sandbox.control.calls({ path: completePath() }))[0]?.tokenLocationId).toBe(L1);
    });

    it('When the location is not approved, the companyId is not the token’s, or a field is missing, then minting is refused (400, 400, 422)', async () => {
      const company = str((await exchange(sandbox, COMPANY_CODE)).body.access_token);

      const unapproved = await locationToken(sandbox, company, L2);
      const otherCompany = await locationToken(sandbox, company, L1, 'otherCompany00000001');
      const missing = await postForm(
        sandbox,
        '/oauth/locationToken',
        { companyId: COMPANY },
        {
          authorization: `Bearer ${company}`,
          version: VERSION,
        },
      );

      expect(unapproved).toMatchObject({ status: 400, body: { statusCode: 400 } });
      expect(otherCompany.status).toBe(400);
      expect(missing).toMatchObject({
        status: 422,
        body: { message: ['locationId should not be empty', 'locationId must be a string'] },
      });
    });

    it('When locationToken gets no Version, an unknown token or a location token, then it is a 401', async () => {
      const company = str((await exchange(sandbox, COMPANY_CODE)).body.access_token);
      const location = str((await exchange(sandbox)).body.access_token);

      const noVersion = await postForm(
        sandbox,
        '/oauth/locationToken',
        { companyId: COMPANY, locationId: L1 },
        {
          authorization: `Bearer ${company}`,
        },
      );
      const unknown = await locationToken(sandbox, 'sbx-at-unknown');
      const wrongType = await locationToken(sandbox, location);

      expect(noVersion).toMatchObject({ status: 401, body: { message: 'version header was not found.' } });
      expect(unknown).toMatchObject({ status: 401, body: { message: 'Invalid JWT' } });
      expect(wrongType).toMatchObject({
        status: 401,
        body: { message: 'The token is not authorized for this scope.' },
      });
    });
  });

  describe('revoke (uninstall)', () => {
    it("When a location's grant is revoked, then its refresh token answers invalid_grant and its access token 401", async () => {
      const issued = (await exchange(sandbox)).body;

      expect(await sandbox.control.revokeOAuth({ locationId: L1 })).toEqual({ revoked: 1 });
      const refused = await refresh(sandbox, str(issued.refresh_token));
      const call = await completeWith(sandbox, str(issued.access_token));

      expect(refused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(call).toMatchObject({ status: 401, body: { message: 'Invalid JWT' } });
      // The location's PITs are not OAuth grants and keep working.
      expect((await callGhl(sandbox.url, { method: 'GET', path: `/contacts/${C1}/tasks` })).status).toBe(200);
    });

    it('When a location is revoked from a Company install, then no token can be minted for it and minted ones stop working, while the company token stays', async () => {
      const company = (await exchange(sandbox, COMPANY_CODE)).body;
      const minted = str((await locationToken(sandbox, str(company.access_token))).body.access_token);

      expect(await sandbox.control.revokeOAuth({ locationId: L1, clientId: CLIENT_ID })).toEqual({
        revoked: 1,
      });

      expect((await locationToken(sandbox, str(company.access_token))).status).toBe(400);
      expect((await completeWith(sandbox, minted)).status).toBe(401);
      expect((await refresh(sandbox, str(company.refresh_token))).status).toBe(200);
    });

    it('When a Company grant is revoked, then its refresh token answers invalid_grant and its minted location tokens stop working', async () => {
      const company = (await exchange(sandbox, COMPANY_CODE)).body;
      const minted = str((await locationToken(sandbox, str(company.access_token))).body.access_token);

      expect(await sandbox.control.revokeOAuth({ companyId: COMPANY })).toEqual({ revoked: 1 });

      expect((await refresh(sandbox, str(company.refresh_token))).body).toMatchObject({
        error: 'invalid_grant',
      });
      expect((await completeWith(sandbox, minted)).status).toBe(401);
    });

    it('When a revoke names neither a location nor a company, then the control API refuses it', async () => {
      await expect(sandbox.control.revokeOAuth({})).rejects.toThrow(/400/);
    });
  });

  it('When the sandbox is reset, then apps, codes and tokens are gone', async () => {
    const issued = (await exchange(sandbox)).body;
    await sandbox.control.reset();
    await sandbox.control.seed(DEMO_SEED);

    expect((await completeWith(sandbox, str(issued.access_token))).status).toBe(401);
    expect((await exchange(sandbox)).status).toBe(401);
  });
});
