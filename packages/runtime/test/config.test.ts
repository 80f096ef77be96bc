import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import {
  DEFAULT_QUEUE_PREFIX,
  DEFAULT_REDIS_URL,
  QueueEnv,
  envInteger,
  expectConfig,
  formatConfigProblems,
  mapConfig,
  hashTagOf,
  parseEnv,
  parseRedisClusterUrl,
  queueEnvProblems,
  redactRedisUrl,
} from '../src/index.js';

const Env = z.object({
  ...QueueEnv,
  LOW: envInteger({ default: 1, min: 0, max: 10 }),
  HIGH: envInteger({ default: 5, min: 0, max: 10 }),
});
const lowAboveHigh = (values: z.output<typeof Env> | undefined): string[] =>
  values && values.LOW > values.HIGH ? ['LOW: must not be greater than HIGH'] : [];

describe('the config contract', () => {
  it('When nothing is set, then the shared queue env takes its defaults', () => {
    expect(parseEnv(Env, {})).toEqual({
      ok: true,
      config: { REDIS_URL: DEFAULT_REDIS_URL, QUEUE_PREFIX: DEFAULT_QUEUE_PREFIX, LOW: 1, HIGH: 5 },
    });
    expect([DEFAULT_REDIS_URL, DEFAULT_QUEUE_PREFIX]).toEqual(['redis://127.0.0.1:6379', 'closeloop']);
  });

  it('When several variables are wrong, then every problem is listed at once as "VARIABLE: message" without values', () => {
    const result = parseEnv(
      Env,
      { REDIS_URL: 'http://user:hunter2@host', QUEUE_PREFIX: 'a:b', LOW: 'eleven', HIGH: '99' },
      lowAboveHigh,
    );
    expect(result).toEqual({
      ok: false,
      problems: [
        'REDIS_URL: must be a redis://, rediss://, redis+cluster:// or rediss+cluster:// URL',
        'QUEUE_PREFIX: may contain only letters, digits, "_", "-", ".", "{" and "}"',
        'LOW: must be a whole number from 0 to 10',
        'HIGH: must be a whole number from 0 to 10',
      ],
    });
  });

  it('When a cross-variable check fails, then its problem joins the same list', () => {
    expect(parseEnv(Env, { LOW: '9', HIGH: '2' }, lowAboveHigh)).toEqual({
      ok: false,
      problems: ['LOW: must not be greater than HIGH'],
    });
  });

  it('When the schema fails, then the cross-variable check still runs, on the raw env', () => {
    const result = parseEnv(Env, { LOW: 'x' }, (values, env) => [
      `seen: ${values === undefined ? 'no values' : 'values'}, LOW raw ${env.LOW === undefined ? 'unset' : 'set'}`,
    ]);
    expect(result.ok ? [] : result.problems).toEqual([
      'LOW: must be a whole number from 0 to 10',
      'seen: no values, LOW raw set',
    ]);
  });

  it('When a result is mapped, then a configuration is transformed and problems pass through', () => {
    expect(mapConfig(parseEnv(Env, {}), (values) => values.LOW + values.HIGH)).toEqual({
      ok: true,
      config: 6,
    });
    expect(mapConfig({ ok: false, problems: ['X: bad'] }, () => 1)).toEqual({
      ok: false,
      problems: ['X: bad'],
    });
  });

  it('When problems are printed, then a heading names the process and each problem is one "  - " line', () => {
    expect(formatConfigProblems('worker', ['A: bad', 'B: worse'])).toBe(
      'worker: invalid configuration\n  - A: bad\n  - B: worse',
    );
  });

  it('When a test expects a valid configuration, then it gets it, or an error listing every problem', () => {
    expect(expectConfig(parseEnv(Env, { LOW: '2' }))).toMatchObject({ LOW: 2 });
    expect(() => expectConfig(parseEnv(Env, { LOW: 'x', HIGH: 'y' }))).toThrow(
      'test configuration: invalid configuration\n  - LOW: must be a whole number from 0 to 10\n  - HIGH: must be a whole number from 0 to 10',
    );
  });

  it('When the Redis URL holds a password, then the logged form hides it', () => {
    expect(redactRedisUrl('redis://user:hunter2@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactRedisUrl('redis://host:6379')).toBe('redis://host:6379');
    expect(redactRedisUrl('::')).toBe('[unparseable]');
  });

  it('When the queue prefix is a Redis Cluster hash tag, then it is accepted', () => {
    expect(parseEnv(Env, { QUEUE_PREFIX: '{closeloop}' })).toMatchObject({
      ok: true,
      config: { QUEUE_PREFIX: '{closeloop}' },
    });
  });
});

describe('Redis Cluster in REDIS_URL (docs/redis-cluster.md)', () => {
  it('When REDIS_URL is a redis+cluster:// URL, then its seed nodes, credentials and TLS are read', () => {
    expect(
      parseEnv(Env, { REDIS_URL: 'redis+cluster://10.0.0.1:7000, 10.0.0.2:7001', QUEUE_PREFIX: '{cl}' }),
    ).toMatchObject({
      ok: true,
      config: { REDIS_URL: 'redis+cluster://10.0.0.1:7000, 10.0.0.2:7001' },
    });
    expect(
      parseRedisClusterUrl('rediss+cluster://app:p%40ss@redis-a.internal:6380,[::1]:7001,redis-c/'),
    ).toEqual({
      ok: true,
      target: {
        nodes: [
          { host: 'redis-a.internal', port: 6380 },
          { host: '::1', port: 7001 },
          { host: 'redis-c', port: 6379 },
        ],
        username: 'app',
        password: 'p@ss',
        tls: true,
      },
    });
    expect(parseRedisClusterUrl('redis+cluster://:hunter2@127.0.0.1:7000')).toEqual({
      ok: true,
      target: { nodes: [{ host: '127.0.0.1', port: 7000 }], password: 'hunter2', tls: false },
    });
  });

  it.each([
    [
      'redis+cluster://:hunter2@127.0.0.1:7000,,127.0.0.1:7001',
      'node 2 of the cluster URL must look like host:port',
    ],
    [
      'redis+cluster://:hunter2@127.0.0.1:70000',
      'node 1 of the cluster URL must have a port from 1 to 65535',
    ],
    [
      'redis+cluster://:hunter2@127.0.0.1:7000/2',
      'Redis Cluster has only database 0: end the cluster URL after the hosts',
    ],
    ['redis+cluster://:hunter2@127.0.0.1:7000?tls=1', 'a cluster URL takes no query or fragment'],
    ['redis+cluster://', 'node 1 of the cluster URL must look like host:port'],
  ])(
    'When the cluster URL %s is malformed, then the problem says where, without the password',
    (url, problem) => {
      expect(parseEnv(Env, { REDIS_URL: url, QUEUE_PREFIX: '{cl}' })).toEqual({
        ok: false,
        problems: [`REDIS_URL: ${problem}`],
      });
    },
  );

  it('When cluster mode has a QUEUE_PREFIX without a hash tag, then that is a problem; with one, or on one node, it is not', () => {
    const cluster = 'redis+cluster://127.0.0.1:7000';
    const problem = expect.stringContaining('QUEUE_PREFIX: needs a Redis Cluster hash tag');
    expect(queueEnvProblems({ REDIS_URL: cluster })).toEqual([problem]);
    expect(queueEnvProblems({ REDIS_URL: cluster, QUEUE_PREFIX: 'closeloop' })).toEqual([problem]);
    expect(queueEnvProblems({ REDIS_URL: cluster, QUEUE_PREFIX: 'a{}b' })).toEqual([problem]);
    expect(queueEnvProblems({ REDIS_URL: cluster, QUEUE_PREFIX: '{closeloop}' })).toEqual([]);
    expect(queueEnvProblems({ REDIS_URL: cluster, QUEUE_PREFIX: 'prod-{closeloop}' })).toEqual([]);
    expect(queueEnvProblems({ QUEUE_PREFIX: 'closeloop' })).toEqual([]);
    expect(queueEnvProblems({ REDIS_URL: 'redis://127.0.0.1:6379' })).toEqual([]);
    const result = parseEnv(Env, { REDIS_URL: cluster }, (_values, env) => queueEnvProblems(env));
    expect(result).toEqual({ ok: false, problems: [problem] });
  });

  it('When a prefix is read as Redis reads a hash tag, then the first {…} with content decides', () => {
    expect([hashTagOf('{closeloop}'), hashTagOf('x{a}{b}'), hashTagOf('{}x{a}'), hashTagOf('{open')]).toEqual(
      ['closeloop', 'a', undefined, undefined],
    );
  });

  it('When a cluster URL holds a password, then the logged form hides it and keeps every node', () => {
    expect(redactRedisUrl('redis+cluster://app:hun@ter2@10.0.0.1:7000,10.0.0.2:7001')).toBe(
      'redis+cluster://app:***@10.0.0.1:7000,10.0.0.2:7001',
    );
    expect(redactRedisUrl('rediss+cluster://10.0.0.1:7000')).toBe('rediss+cluster://10.0.0.1:7000');
  });
});
