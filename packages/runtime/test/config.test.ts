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
  parseEnv,
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
        'REDIS_URL: must be a redis:// or rediss:// URL',
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
