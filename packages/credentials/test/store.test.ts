import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { Redis } from 'ioredis';
import {
  CredentialsDecryptError,
  CredentialsKey,
  createCredentialStore,
  type CompanyCredentials,
  type LocationCredentials,
} from '../src/index.js';

let redis: Redis;

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  await redis.quit();
});

function newStore(key = CredentialsKey.parse(CredentialsKey.generate()), prefix = uniquePrefix('cred')) {
  return { store: createCredentialStore({ redis, prefix, key }), prefix, key };
}

const PIT: LocationCredentials = { kind: 'pit', locationId: 'locPit1', token: 'pit-aaaa-secret-1111' };
const OAUTH: LocationCredentials = {
  kind: 'oauth',
  locationId: 'locOauth1',
  userType: 'Location',
  accessToken: 'at-oauth-secret-2222',
  refreshToken: 'rt-oauth-secret-3333',
  expiresAt: 1_900_000_000_000,
  scope: 'contacts.write',
};
const COMPANY: CompanyCredentials = {
  companyId: 'comp1',
  accessToken: 'at-company-secret-4444',
  refreshToken: 'rt-company-secret-5555',
  expiresAt: 1_900_000_000_000,
  approvedLocations: ['locA', 'locB'],
};
const SECRETS = [
  PIT.token,
  'at-oauth-secret-2222',
  'rt-oauth-secret-3333',
  COMPANY.accessToken,
  COMPANY.refreshToken,
];

describe('credential store', () => {
  it('When credentials are put, then they read back and are stored encrypted under the documented key', async () => {
    const { store, prefix } = newStore();
    await store.putLocation(PIT);
    await store.putLocation(OAUTH);
    await store.putCompany(COMPANY);
    expect(await store.getLocation(PIT.locationId)).toEqual(PIT);
    expect(await store.getLocation(OAUTH.locationId)).toEqual(OAUTH);
    expect(await store.getCompany(COMPANY.companyId)).toEqual(COMPANY);
    expect(await store.getLocation('unknownLoc')).toBeUndefined();

    const raw = [
      await redis.get(`${prefix}:credentials:location:${PIT.locationId}`),
      await redis.get(`${prefix}:credentials:location:${OAUTH.locationId}`),
      await redis.get(`${prefix}:credentials:company:${COMPANY.companyId}`),
    ];
    for (const value of raw) {
      expect(value).toMatch(/^v1\./);
      // The whole record is encrypted, ids and kinds included.
      for (const text of [...SECRETS, 'locOauth1', 'oauth', 'comp1']) expect(value).not.toContain(text);
    }
  });

  it('When a ciphertext is copied to another location, then reading it fails instead of handing out the token', async () => {
    const { store, prefix } = newStore();
    await store.putLocation(PIT);
    const envelope = (await redis.get(`${prefix}:credentials:location:${PIT.locationId}`))!;
    await redis.set(`${prefix}:credentials:location:locThief`, envelope);
    await expect(store.getLocation('locThief')).rejects.toThrow(CredentialsDecryptError);
  });

  it('When a stored value is altered, then reading it fails', async () => {
    const { store, prefix } = newStore();
    await store.putLocation(OAUTH);
    const redisKey = `${prefix}:credentials:location:${OAUTH.locationId}`;
    const parts = (await redis.get(redisKey))!.split('.');
    const body = Buffer.from(parts[4]!, 'base64url');
    body[body.length - 1] = body[body.length - 1]! ^ 0xff;
    parts[4] = body.toString('base64url');
    await redis.set(redisKey, parts.join('.'));
    await expect(store.getLocation(OAUTH.locationId)).rejects.toThrow(CredentialsDecryptError);
  });

  it('When the key is rotated, then the old key still decrypts, rekey re-encrypts everything, and the old key can go', async () => {
    const oldText = CredentialsKey.generate();
    const newText = CredentialsKey.generate();
    const prefix = uniquePrefix('rot');
    const { store: before } = newStore(CredentialsKey.parse(oldText), prefix);
    await before.putLocation(PIT);
    await before.putLocation(OAUTH);
    await before.putCompany(COMPANY);

    // Step 1: the new key first, the old one still listed.
    const { store: during, key: rotated } = newStore(CredentialsKey.parse(`${newText} ${oldText}`), prefix);
    expect(await during.getLocation(OAUTH.locationId)).toEqual(OAUTH);
    // Step 2: rekey.
    expect(await during.rekey()).toBe(3);
    expect(await during.rekey()).toBe(0);
    for (const redisKey of [
      `${prefix}:credentials:location:${PIT.locationId}`,
      `${prefix}:credentials:location:${OAUTH.locationId}`,
      `${prefix}:credentials:company:${COMPANY.companyId}`,
    ]) {
      expect(CredentialsKey.keyIdOfEnvelope((await redis.get(redisKey))!)).toBe(rotated.primaryKeyId);
    }
    // Step 3: the old key dropped.
    const { store: after } = newStore(CredentialsKey.parse(newText), prefix);
    expect(await after.getLocation(PIT.locationId)).toEqual(PIT);
    expect(await after.getLocation(OAUTH.locationId)).toEqual(OAUTH);
    expect(await after.getCompany(COMPANY.companyId)).toEqual(COMPANY);
  });

  it('When the old key is dropped before rekey, then reading and rekey fail naming the Redis keys, not secrets', async () => {
    const prefix = uniquePrefix('norekey');
    const { store: before } = newStore(CredentialsKey.parse(CredentialsKey.generate()), prefix);
    await before.putLocation(OAUTH);
    const { store: after } = newStore(CredentialsKey.parse(CredentialsKey.generate()), prefix);
    await expect(after.getLocation(OAUTH.locationId)).rejects.toThrow(/not in CREDENTIALS_KEY/);
    const error = await after.rekey().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CredentialsDecryptError);
    expect((error as Error).message).toContain(`${prefix}:credentials:location:${OAUTH.locationId}`);
  });

  it('When locations are listed, then the list has metadata only and no token string', async () => {
    const { store } = newStore();
    await store.putLocation(PIT);
    await store.putLocation(OAUTH);
    await store.putLocation({
      kind: 'company-minted',
      locationId: 'locA',
      companyId: 'comp1',
      accessToken: 'at-minted-secret-6666',
      expiresAt: 1_800_000_000_000,
    });
    await store.putCompany(COMPANY);
    await store.markNeedsReauth(OAUTH.locationId, 'invalid_grant: refresh token is invalid');

    const list = await store.list();
    expect(list).toEqual([
      {
        locationId: 'locA',
        kind: 'company-minted',
        expiresAt: 1_800_000_000_000,
        companyId: 'comp1',
        needsReauth: false,
      },
      { locationId: 'locB', kind: 'company-approved', companyId: 'comp1', needsReauth: false },
      {
        locationId: 'locOauth1',
        kind: 'oauth',
        expiresAt: OAUTH.expiresAt,
        needsReauth: true,
        reauthReason: 'invalid_grant: refresh token is invalid',
      },
      { locationId: 'locPit1', kind: 'pit', needsReauth: false },
    ]);
    const companies = await store.listCompanies();
    const shown = JSON.stringify([list, companies]);
    for (const secret of [...SECRETS, 'at-minted-secret-6666']) expect(shown).not.toContain(secret);
    expect(companies).toEqual([
      {
        companyId: 'comp1',
        expiresAt: COMPANY.expiresAt,
        approvedLocations: ['locA', 'locB'],
        needsReauth: false,
      },
    ]);
  });

  it('When a location is removed, then it is gone from reads and the list', async () => {
    const { store } = newStore();
    await store.putLocation(PIT);
    expect(await store.removeLocation(PIT.locationId)).toBe(true);
    expect(await store.removeLocation(PIT.locationId)).toBe(false);
    expect(await store.getLocation(PIT.locationId)).toBeUndefined();
    expect(await store.list()).toEqual([]);
  });

  it('When a location is marked as needing reauth, then only the first mark reports true, and new credentials clear it', async () => {
    const { store } = newStore();
    await store.putLocation(OAUTH);
    expect(await store.markNeedsReauth(OAUTH.locationId, 'first reason')).toBe(true);
    expect(await store.markNeedsReauth(OAUTH.locationId, 'second reason')).toBe(false);
    expect((await store.needsReauth(OAUTH.locationId))?.reason).toBe('first reason');
    await store.clearNeedsReauth(OAUTH.locationId);
    expect(await store.needsReauth(OAUTH.locationId)).toBeUndefined();
    await store.markNeedsReauth(OAUTH.locationId, 'again');
    await store.putLocation({ ...OAUTH, refreshToken: 'rt-reinstalled' });
    expect(await store.needsReauth(OAUTH.locationId)).toBeUndefined();
  });

  it('When a company install is replaced, then its approvals follow the new list', async () => {
    const { store } = newStore();
    await store.putCompany(COMPANY);
    expect(await store.approvingCompany('locA')).toBe('comp1');
    await store.putCompany({ ...COMPANY, approvedLocations: ['locB', 'locC'] });
    expect(await store.approvingCompany('locA')).toBeUndefined();
    expect(await store.approvingCompany('locC')).toBe('comp1');
    expect(await store.removeCompany('comp1')).toBe(true);
    expect(await store.approvingCompany('locB')).toBeUndefined();
  });

  it('When compareAndSwap runs, then it replaces only the value that was read', async () => {
    const { store } = newStore();
    await store.putLocation(OAUTH);
    const read = (await store.readLocation(OAUTH.locationId))!;
    const next = { ...OAUTH, accessToken: 'at-next', refreshToken: 'rt-next' };
    expect(await store.compareAndSwap(read, next)).toBe(true);
    // The same stale read cannot win twice: the stored ciphertext changed.
    expect(await store.compareAndSwap(read, { ...OAUTH, accessToken: 'at-stale' })).toBe(false);
    expect(await store.getLocation(OAUTH.locationId)).toMatchObject({ accessToken: 'at-next' });
    // null: only when absent.
    expect(await store.compareAndSwap(null, PIT)).toBe(true);
    expect(await store.compareAndSwap(null, PIT)).toBe(false);
    expect((await store.list()).map((entry) => entry.locationId)).toEqual(['locOauth1', 'locPit1']);
    // A record read for one location cannot replace another.
    await expect(store.compareAndSwap(read, { ...OAUTH, locationId: 'locOther' })).rejects.toThrow(TypeError);
  });

  it('When a record is invalid, then put refuses it naming the field, not the value', async () => {
    const { store } = newStore();
    const error = await store
      .putLocation({ kind: 'pit', locationId: 'bad:id', token: 'pit-visible-secret' })
      .then(
        () => undefined,
        (caught: unknown) => caught,
      );
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toContain('locationId');
    expect((error as Error).message).not.toContain('pit-visible-secret');
  });
});
