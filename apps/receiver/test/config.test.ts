import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { expectConfig } from '@closeloop/runtime';
import { loadConfig, redactRedisUrl } from '../src/config.js';

const secret = (bytes = 32): string => `whsec_${randomBytes(bytes).toString('base64')}`;
const KEY = 'an-internal-key-of-some-length';

function problemsOf(env: Record<string, string | undefined>): string[] {
  const result = loadConfig(env);
  if (result.ok) throw new Error('expected configuration problems');
  return result.problems;
}

const configOf = (env: Record<string, string | undefined>) => expectConfig(loadConfig(env));

const sourcesDir = mkdtempSync(join(tmpdir(), 'closeloop-sources-'));
afterAll(() => rmSync(sourcesDir, { recursive: true, force: true }));

function writeSourcesFile(name: string, text: string): string {
  const path = join(sourcesDir, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig', () => {
  it('When only INTERNAL_API_KEY is set, then every other variable takes its documented default', () => {
    expect(loadConfig({ INTERNAL_API_KEY: KEY })).toEqual({
      ok: true,
      config: {
        redisUrl: 'redis://127.0.0.1:6379',
        queuePrefix: 'closeloop',
        port: 3000,
        host: '0.0.0.0',
        adminListener: { port: 3001, host: '127.0.0.1' },
        webhookSecrets: [],
        sources: [],
        internalApiKey: KEY,
        admin: undefined,
        bodyLimitBytes: 256 * 1024,
        logLevel: 'info',
        logFormat: 'json',
      },
    });
  });

  it('When everything is set, then each value is read', () => {
    const [first, second] = [secret(), secret(24)];
    expect(
      configOf({
        REDIS_URL: 'rediss://:pw@redis.internal:6380/2',
        QUEUE_PREFIX: '{closeloop}',
        PORT: '8080',
        HOST: '::',
        ADMIN_PORT: '9090',
        ADMIN_HOST: '10.0.0.5',
        WEBHOOK_SECRET: `  ${first}   ${second} `,
        INTERNAL_API_KEY: KEY,
        ADMIN_USER: 'ops',
        ADMIN_PASSWORD: 'long-enough-password',
        BODY_LIMIT: '1mb',
        LOG_LEVEL: 'DEBUG',
        LOG_FORMAT: 'pretty',
      }),
    ).toEqual({
      redisUrl: 'rediss://:pw@redis.internal:6380/2',
      queuePrefix: '{closeloop}',
      port: 8080,
      host: '::',
      adminListener: { port: 9090, host: '10.0.0.5' },
      webhookSecrets: [first, second],
      internalApiKey: KEY,
      admin: { user: 'ops', password: 'long-enough-password' },
      bodyLimitBytes: 1024 * 1024,
      sources: [],
      logLevel: 'debug',
      logFormat: 'pretty',
    });
  });

  it('When SOURCES_FILE names a YAML file, then its sources are read with their secrets from the environment', () => {
    const file = writeSourcesFile(
      'sources.yaml',
      [
        'sources:',
        '  - name: zendesk',
        '    type: zendesk',
        '    secretEnv: ZENDESK_WEBHOOK_SECRET',
        '    locationId: ve9EPM428h8vShlRW1KT',
        "    match: { ticketPattern: '\\[{ticket}\\]' }",
      ].join('\n'),
    );
    const config = configOf({
      SOURCES_FILE: file,
      ZENDESK_WEBHOOK_SECRET: 'zendesk-signing-secret-1 zendesk-signing-secret-2',
    });
    expect(config.sources).toEqual([
      expect.objectContaining({
        name: 'zendesk',
        type: 'zendesk',
        secrets: ['zendesk-signing-secret-1', 'zendesk-signing-secret-2'],
        locationId: 've9EPM428h8vShlRW1KT',
        ticketPattern: '\\[{ticket}\\]',
        pathToken: undefined,
      }),
    ]);
  });

  it('When SOURCES_FILE has several problems, then every one is listed, none quoting a secret', () => {
    const file = writeSourcesFile(
      'sources.json',
      JSON.stringify({
        sources: [
          { name: 'desk', type: 'freshdesk', secretEnv: 'DESK_SECRET', pathTokenEnv: 'DESK_TOKEN' },
          { name: 'desk', type: 'nodesk', secretEnv: 'OTHER' },
        ],
      }),
    );
    const problems = problemsOf({ SOURCES_FILE: file, DESK_SECRET: 'short', DESK_TOKEN: 'tiny' });
    expect(problems).toEqual(expect.arrayContaining([expect.stringContaining('source "desk" type')]));
    expect(problemsOf({ SOURCES_FILE: file.replace('.json', '-missing.json') })).toEqual([
      expect.stringContaining('cannot read'),
    ]);
    const fixed = writeSourcesFile(
      'fixed.json',
      JSON.stringify([
        { name: 'desk', type: 'freshdesk', secretEnv: 'DESK_SECRET', pathTokenEnv: 'DESK_TOKEN' },
        { name: 'desk', type: 'token', secretEnv: 'UNSET_SECRET' },
      ]),
    );
    const listed = problemsOf({ SOURCES_FILE: fixed, DESK_SECRET: 'short', DESK_TOKEN: 'tiny' });
    expect(listed).toEqual(
      expect.arrayContaining([
        expect.stringContaining('DESK_SECRET must hold secrets of at least 16'),
        expect.stringContaining('DESK_TOKEN must be 24'),
        expect.stringContaining('the name is used twice'),
        expect.stringContaining('UNSET_SECRET (secretEnv) is not set'),
      ]),
    );
    expect(listed.join('\n')).not.toMatch(/short|tiny/);
  });

  it('When a variable is set to the empty string (docker compose ${X:-}), then it counts as unset', () => {
    const config = configOf({
      INTERNAL_API_KEY: KEY,
      WEBHOOK_SECRET: '',
      ADMIN_USER: '',
      ADMIN_PASSWORD: ' ',
      PORT: '',
      ADMIN_PORT: ' ',
      LOG_FORMAT: '',
    });
    expect(config).toMatchObject({
      webhookSecrets: [],
      admin: undefined,
      port: 3000,
      adminListener: { port: 3001 },
      logFormat: 'json',
    });
  });

  it('When ADMIN_PORT is 0, then the OS picks the admin port (tests); above 65535 is a problem', () => {
    expect(configOf({ INTERNAL_API_KEY: KEY, ADMIN_PORT: '0' }).adminListener).toEqual({
      port: 0,
      host: '127.0.0.1',
    });
    expect(problemsOf({ INTERNAL_API_KEY: KEY, ADMIN_PORT: '70000' })).toEqual([
      'ADMIN_PORT: must be a whole number from 0 to 65535',
    ]);
  });

  it('When none of WEBHOOK_SECRET, INTERNAL_API_KEY and SOURCES_FILE is set, then it refuses to start', () => {
    expect(problemsOf({})).toEqual([
      expect.stringContaining('WEBHOOK_SECRET, INTERNAL_API_KEY or SOURCES_FILE'),
    ]);
  });

  it.each([
    ['only ADMIN_USER', { ADMIN_USER: 'ops' }],
    ['only ADMIN_PASSWORD', { ADMIN_PASSWORD: 'long-enough-password' }],
  ])('When %s is set, then it asks for both or neither', (_name, admin) => {
    expect(problemsOf({ INTERNAL_API_KEY: KEY, ...admin })).toEqual([
      expect.stringContaining('ADMIN_USER and ADMIN_PASSWORD'),
    ]);
  });

  it.each([
    ['has no whsec_ prefix', randomBytes(32).toString('base64')],
    ['is an asymmetric key', `whpk_${randomBytes(32).toString('base64')}`],
    ['is shorter than 24 bytes', secret(16)],
    ['is longer than 64 bytes', secret(65)],
    ['is not base64', 'whsec_not*base64*at*all*but*long*enough*'],
    ['is one bad secret among good ones', `${secret()} whsec_short`],
  ])('When WEBHOOK_SECRET %s, then it is refused', (_name, value) => {
    expect(problemsOf({ WEBHOOK_SECRET: value })).toEqual([expect.stringMatching(/^WEBHOOK_SECRET: /)]);
  });

  it('When several variables are wrong, then every problem is reported at once, without their values', () => {
    const problems = problemsOf({
      REDIS_URL: 'http://user:s3cr3t-redis@localhost:6379',
      QUEUE_PREFIX: 'has:colon',
      PORT: '70000',
      WEBHOOK_SECRET: 'whsec_tooshort',
      INTERNAL_API_KEY: 'short',
      ADMIN_USER: 'a:b',
      ADMIN_PASSWORD: 'tiny',
      BODY_LIMIT: '1gb',
      LOG_LEVEL: 'loud',
      LOG_FORMAT: 'xml',
      ADMIN_PORT: 'admin',
    });
    const names = problems.map((problem) => problem.split(':')[0]);
    expect(names).toEqual(
      expect.arrayContaining([
        'REDIS_URL',
        'QUEUE_PREFIX',
        'PORT',
        'WEBHOOK_SECRET',
        'INTERNAL_API_KEY',
        'ADMIN_USER',
        'ADMIN_PASSWORD',
        'BODY_LIMIT',
        'LOG_LEVEL',
        'LOG_FORMAT',
        'ADMIN_PORT',
      ]),
    );
    const text = problems.join('\n');
    for (const value of ['s3cr3t-redis', 'whsec_tooshort', 'short"', 'tiny'])
      expect(text).not.toContain(value);
  });

  it.each([
    ['262144', 262_144],
    ['256kb', 262_144],
    ['64 KiB', 65_536],
    ['2MB', 2 * 1024 * 1024],
  ])('When BODY_LIMIT is %s, then the limit is %d bytes', (value, bytes) => {
    expect(configOf({ INTERNAL_API_KEY: KEY, BODY_LIMIT: value }).bodyLimitBytes).toBe(bytes);
  });

  it('When REDIS_URL names a Redis Cluster, then QUEUE_PREFIX must carry a hash tag', () => {
    const cluster = 'redis+cluster://127.0.0.1:7000,127.0.0.1:7001';
    expect(problemsOf({ INTERNAL_API_KEY: KEY, REDIS_URL: cluster })).toEqual([
      expect.stringContaining('QUEUE_PREFIX: needs a Redis Cluster hash tag'),
    ]);
    expect(
      configOf({ INTERNAL_API_KEY: KEY, REDIS_URL: cluster, QUEUE_PREFIX: '{closeloop}' }),
    ).toMatchObject({
      redisUrl: cluster,
      queuePrefix: '{closeloop}',
    });
  });

  it('When the Redis URL holds a password, then the logged form hides it', () => {
    expect(redactRedisUrl('redis://user:hunter2@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactRedisUrl('redis://host:6379')).toBe('redis://host:6379');
  });
});
