import { afterEach, describe, expect, it, jest } from '@jest/globals';
import {
  CredentialsKey,
  createCredentialStore,
  type CompanySummary,
  type CredentialStore,
  type LocationSummary,
} from '@closeloop/credentials';
import { findFreePort, testRedisUrl, uniquePrefix } from '@closeloop/test-support';
import { Redis } from 'ioredis';
import { cliEnv, parseJson, runCli, startCli, type CliRun } from './cli-process.js';

// Each command is a process start (about a second of CPU through tsx; apps/cli/README.md, "Start-up
// time"), several at once; on a busy machine they queue.
jest.setTimeout(40_000);

const HOUR = 3_600_000;

interface TestStore {
  prefix: string;
  redis: Redis;
  /** The store under `key`, as the command sees it with CREDENTIALS_KEY=key. */
  storeWith(key: string): CredentialStore;
  env(key: string | undefined, extra?: Record<string, string>): NodeJS.ProcessEnv;
}

const opened: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

function openTestStore(): TestStore {
  const prefix = uniquePrefix('cli-locations');
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  opened.push(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  return {
    prefix,
    redis,
    storeWith: (key) => createCredentialStore({ redis, prefix, key: CredentialsKey.parse(key) }),
    env: (key, extra = {}) =>
      cliEnv(prefix, { ...(key !== undefined && { CREDENTIALS_KEY: key }), ...extra }),
  };
}

function everything(run: CliRun): string {
  return `${run.stdout}\n${run.stderr}`;
}

describe('closeloop locations add | list | remove', () => {
  it('When tokens are added by --token and by --token-stdin, then they are stored encrypted, list shows every kind without a secret, and remove deletes one', async () => {
    const test = openTestStore();
    const key = CredentialsKey.generate();
    const store = test.storeWith(key);
    const env = test.env(key);
    const pit = 'pit-3f1c2a9e-1111-4c4c-9d9d-aaaaaaaaaaaa';
    const stdinPit = 'pit-7b2e4d10-2222-4e4e-8f8f-bbbbbbbbbbbb';
    const expiresAt = Date.now() + 20 * HOUR;
    const secrets = [
      pit,
      stdinPit,
      'oauth-access-token-of-locOauth',
      'oauth-refresh-token-of-locOauth',
      'oauth-access-token-replaced',
      'minted-access-token-of-locMinted',
      'company-access-token-of-co1',
      'company-refresh-token-of-co1',
    ];
    await store.putLocation({
      kind: 'oauth',
      locationId: 'locOauth',
      userType: 'Location',
      accessToken: 'oauth-access-token-of-locOauth',
      refreshToken: 'oauth-refresh-token-of-locOauth',
      expiresAt,
    });
    await store.markNeedsReauth('locOauth', 'invalid_grant: the refresh token was spent');
    await store.putLocation({
      kind: 'oauth',
      locationId: 'locReplaced',
      userType: 'Location',
      accessToken: 'oauth-access-token-replaced',
      refreshToken: 'oauth-refresh-token-replaced',
      expiresAt,
    });
    await store.putCompany({
      companyId: 'co1',
      accessToken: 'company-access-token-of-co1',
      refreshToken: 'company-refresh-token-of-co1',
      expiresAt: expiresAt + HOUR,
      approvedLocations: ['locApproved', 'locMinted'],
    });
    await store.putLocation({
      kind: 'company-minted',
      locationId: 'locMinted',
      companyId: 'co1',
      accessToken: 'minted-access-token-of-locMinted',
      expiresAt,
    });

    const [byOption, byStdin] = await Promise.all([
      runCli(['locations', 'add', 'locPit', '--token', pit], env),
      startCli(['locations', 'add', 'locReplaced', '--token-stdin'], env, { input: `${stdinPit}\n` }).exited,
    ]);

    expect(byOption).toMatchObject({ code: 0, stderr: '' });
    expect(byOption.stdout).toBe('stored a Private Integration Token for location locPit\n');
    expect(byStdin).toMatchObject({ code: 0, stderr: '' });
    expect(byStdin.stdout).toBe(
      'stored a Private Integration Token for location locReplaced (replaced its oauth credentials)\n',
    );
    expect(await store.getLocation('locPit')).toEqual({ kind: 'pit', locationId: 'locPit', token: pit });
    // The newline of the pipe is not part of the token.
    expect(await store.getLocation('locReplaced')).toEqual({
      kind: 'pit',
      locationId: 'locReplaced',
      token: stdinPit,
    });
    // At rest the token is ciphertext only.
    const stored = await test.redis.get(`${test.prefix}:credentials:location:locPit`);
    expect(stored).toMatch(/^v1\./);
    expect(stored).not.toContain(pit);

    const [human, json] = await Promise.all([
      runCli(['locations', 'list'], env),
      runCli(['locations', 'list', '--json'], env),
    ]);

    expect(json).toMatchObject({ code: 0, stderr: '' });
    const listed = parseJson<{ locations: LocationSummary[]; companies: CompanySummary[] }>(json);
    expect(listed.locations).toEqual([
      { locationId: 'locApproved', kind: 'company-approved', companyId: 'co1', needsReauth: false },
      { locationId: 'locMinted', kind: 'company-minted', expiresAt, companyId: 'co1', needsReauth: false },
      {
        locationId: 'locOauth',
        kind: 'oauth',
        expiresAt,
        needsReauth: true,
        reauthReason: 'invalid_grant: the refresh token was spent',
      },
      { locationId: 'locPit', kind: 'pit', needsReauth: false },
      { locationId: 'locReplaced', kind: 'pit', needsReauth: false },
    ]);
    expect(listed.companies).toEqual([
      {
        companyId: 'co1',
        expiresAt: expiresAt + HOUR,
        approvedLocations: ['locApproved', 'locMinted'],
        needsReauth: false,
      },
    ]);

    expect(human).toMatchObject({ code: 0, stderr: '' });
    const iso = new Date(expiresAt).toISOString();
    expect(human.stdout).toMatch(/^LOCATION\s+KIND\s+EXPIRES AT\s+COMPANY\s+NEEDS REAUTH$/m);
    expect(human.stdout).toMatch(/^locApproved\s+company-approved\s+-\s+co1\s+no$/m);
    expect(human.stdout).toMatch(new RegExp(`^locMinted\\s+company-minted\\s+${iso}\\s+co1\\s+no$`, 'm'));
    expect(human.stdout).toMatch(
      new RegExp(
        `^locOauth\\s+oauth\\s+${iso}\\s+-\\s+yes: invalid_grant: the refresh token was spent$`,
        'm',
      ),
    );
    expect(human.stdout).toMatch(/^locPit\s+pit\s+-\s+-\s+no$/m);
    expect(human.stdout).toMatch(
      new RegExp(`^ {2}co1\\s+${new Date(expiresAt + HOUR).toISOString()}\\s+2\\s+no$`, 'm'),
    );
    expect(human.stdout).toMatch(/^5 locations, 1 company install$/m);

    for (const run of [byOption, byStdin, human, json]) {
      for (const secret of secrets) expect(everything(run)).not.toContain(secret);
    }

    const [removed, approvedOnly] = await Promise.all([
      runCli(['locations', 'remove', 'locPit'], env),
      runCli(['locations', 'remove', 'locApproved'], env),
    ]);

    expect(removed).toMatchObject({
      code: 0,
      stdout: 'removed the credentials of location locPit\n',
      stderr: '',
    });
    expect(await store.getLocation('locPit')).toBeUndefined();
    expect((await store.list()).map((location) => location.locationId)).not.toContain('locPit');
    // Nothing of its own to remove: it is minted from the company install, and the command says so.
    expect(approvedOnly).toMatchObject({ code: 1, stdout: '' });
    expect(approvedOnly.stderr).toContain('no credentials stored for location locApproved');
    expect(approvedOnly.stderr).toContain("company co1's install still approves it");
    expect(await store.getCompany('co1')).toMatchObject({ approvedLocations: ['locApproved', 'locMinted'] });
  });
});

describe('closeloop locations rekey', () => {
  it('When CREDENTIALS_KEY puts a new key first, then rekey rewrites every record under it, names what it cannot decrypt, and counts', async () => {
    const test = openTestStore();
    const oldKey = CredentialsKey.generate();
    const newKey = CredentialsKey.generate();
    const lostKey = CredentialsKey.generate();
    const rotation = `${newKey} ${oldKey}`;
    const oldStore = test.storeWith(oldKey);
    await oldStore.putLocation({ kind: 'pit', locationId: 'locA', token: 'pit-of-locA' });
    await oldStore.putCompany({
      companyId: 'co1',
      accessToken: 'company-access',
      refreshToken: 'company-refresh',
      expiresAt: Date.now() + HOUR,
      approvedLocations: ['locB'],
    });
    // Written under a key that is no longer configured: it cannot be rewritten.
    await test.storeWith(lostKey).putLocation({ kind: 'pit', locationId: 'locLost', token: 'pit-of-lost' });

    const partial = await runCli(['locations', 'rekey', '--json'], test.env(rotation));

    expect(partial).toMatchObject({ code: 1, stdout: '' });
    expect(partial.stderr).toContain('rekey re-encrypted 2 records but cannot decrypt 1');
    expect(partial.stderr).toContain(`${test.prefix}:credentials:location:locLost`);
    expect(partial.stderr).toContain('Add the key they were written with to CREDENTIALS_KEY, or remove them');
    // Readable with the new key alone: the old one can be dropped.
    const newOnly = test.storeWith(newKey);
    expect(await newOnly.getLocation('locA')).toEqual({
      kind: 'pit',
      locationId: 'locA',
      token: 'pit-of-locA',
    });
    expect(await newOnly.getCompany('co1')).toMatchObject({ refreshToken: 'company-refresh' });

    await newOnly.removeLocation('locLost');
    await oldStore.putLocation({ kind: 'pit', locationId: 'locC', token: 'pit-of-locC' });
    const done = await runCli(['locations', 'rekey', '--json'], test.env(rotation));

    expect(done).toMatchObject({ code: 0, stderr: '' });
    expect(parseJson(done)).toEqual({ rekeyed: 1, keyId: CredentialsKey.parse(newKey).primaryKeyId });
    expect(await newOnly.getLocation('locC')).toMatchObject({ token: 'pit-of-locC' });
    for (const run of [partial, done]) {
      for (const secret of ['pit-of-locA', 'pit-of-lost', 'company-refresh', oldKey, newKey, lostKey]) {
        expect(everything(run)).not.toContain(secret);
      }
    }
  });
});

describe('closeloop locations usage', () => {
  it('When the command line, CREDENTIALS_KEY or Redis is wrong, then it says so without a secret and exits 2 (3 for Redis)', async () => {
    const test = openTestStore();
    const key = CredentialsKey.generate();
    const notAKey = 'not-a-key-but-a-secret-all-the-same';
    const cases: Array<{ args: string[]; env: NodeJS.ProcessEnv; code: number; says: string[] }> = [
      {
        args: ['locations', '--help'],
        env: test.env(undefined),
        code: 0,
        says: ['Usage: closeloop locations', 'add', 'list', 'remove', 'rekey'],
      },
      {
        args: ['locations', 'add', '--help'],
        env: test.env(undefined),
        code: 0,
        says: ['<locationId>', '--token <pit>', '--token-stdin'],
      },
      {
        args: ['locations', 'add', 'locA'],
        env: test.env(key),
        code: 2,
        says: ['give the token with --token-stdin'],
      },
      {
        args: ['locations', 'add', 'loc/A', '--token', 'pit-fine'],
        env: test.env(key),
        code: 2,
        says: ['<locationId>: may contain only letters, digits'],
      },
      {
        args: ['locations', 'add', 'locA', '--token', 'pit-with a-space'],
        env: test.env(key),
        code: 2,
        says: ['--token: the token must be printable ASCII without spaces', '(value not shown)'],
      },
      {
        args: ['locations', 'list'],
        env: test.env(undefined),
        code: 2,
        says: ['invalid environment', 'CREDENTIALS_KEY: required by the locations commands'],
      },
      {
        args: ['locations', 'list', '--json'],
        env: test.env(`${key} ${notAKey}`),
        code: 2,
        says: ['CREDENTIALS_KEY entry 2 must be base64 of exactly 32 bytes'],
      },
      {
        args: ['locations', 'list'],
        env: test.env(key, { REDIS_URL: `redis://:s3cret-pass@127.0.0.1:${await findFreePort()}` }),
        code: 3,
        says: ['Redis at redis://:***@127.0.0.1:', 'is unreachable ('],
      },
    ];

    const runs = await Promise.all(cases.map((c) => runCli(c.args, c.env)));

    runs.forEach((run, index) => {
      const { args, code, says } = cases[index] ?? { args: [], code: -1, says: [] };
      expect({ args, code: run.code }).toEqual({ args, code });
      const shown = code === 0 ? run.stdout : run.stderr;
      for (const text of says) expect(shown).toContain(text);
      if (code !== 0) expect(run.stdout).toBe('');
      for (const secret of ['pit-with a-space', 'pit-with', notAKey, key, 's3cret-pass']) {
        expect(everything(run)).not.toContain(secret);
      }
    });
    expect(await test.redis.keys(`${test.prefix}:*`)).toEqual([]);
  });
});
