import { describe, expect, it } from '@jest/globals';
import { DEFAULT_QUEUE_PREFIX } from '@closeloop/queue';
import { describeConfig, loadConfig } from '../src/config.js';

const SINGLE = { GHL_TOKEN: 'pit-single-secret', GHL_LOCATION_ID: 've9EPM428h8vShlRW1KT' };

describe('worker configuration', () => {
  it('When only the single-location credentials are set, then every other variable takes its documented default', () => {
    const result = loadConfig(SINGLE);
    expect(result).toEqual({
      ok: true,
      config: {
        redisUrl: 'redis://127.0.0.1:6379',
        queuePrefix: 'closeloop',
        ghl: {
          baseUrl: 'https://services.leadconnectorhq.com',
          apiVersion: '2021-07-28',
          timeoutMs: 15_000,
          tokens: { ve9EPM428h8vShlRW1KT: 'pit-single-secret' },
          defaultLocationId: 've9EPM428h8vShlRW1KT',
        },
        concurrency: 50,
        locationConcurrency: 10,
        retry: { attempts: 8, baseMs: 1_000, capMs: 300_000 },
        rateLimit: { perInterval: 100, intervalMs: 10_000 },
        shutdownTimeoutMs: 25_000,
        lockDurationMs: 30_000,
        stalledIntervalMs: 30_000,
        ambiguousHoldMs: 120_000,
        jobMaxAgeMs: 72 * 60 * 60 * 1_000,
        metrics: { port: 9464, host: '0.0.0.0' },
        logLevel: 'info',
        logFormat: 'json',
      },
    });
  });

  it('When GHL_LOCATION_TOKENS lists several sub-accounts, then each gets its token and there is no default location', () => {
    const result = loadConfig({ GHL_LOCATION_TOKENS: '  locA=pit-a\nlocB=pit-b  ' });
    expect(result.ok && result.config.ghl.tokens).toEqual({ locA: 'pit-a', locB: 'pit-b' });
    expect(result.ok && result.config.ghl.defaultLocationId).toBeUndefined();
  });

  it('When GHL_LOCATION_TOKENS is combined with GHL_LOCATION_ID, then that location is the default for jobs that name none', () => {
    const result = loadConfig({ GHL_LOCATION_TOKENS: 'locA=pit-a locB=pit-b', GHL_LOCATION_ID: 'locB' });
    expect(result.ok && result.config.ghl.defaultLocationId).toBe('locB');
  });

  it('When a variable is blank, then it takes its default (a blank line in an .env file is not 0)', () => {
    const result = loadConfig({ ...SINGLE, WORKER_CONCURRENCY: '', RETRY_ATTEMPTS: ' ', LOG_LEVEL: '' });
    expect(
      result.ok && [result.config.concurrency, result.config.retry.attempts, result.config.logLevel],
    ).toEqual([50, 8, 'info']);
  });

  it('When several variables are wrong, then every problem is listed at once and no token value appears', () => {
    const result = loadConfig({
      GHL_TOKEN: 'secret with spaces',
      GHL_LOCATION_TOKENS: 'locA=pit-secret-a broken =x locB=',
      REDIS_URL: 'http://user:redis-password@host',
      WORKER_CONCURRENCY: 'many',
      RETRY_ATTEMPTS: '0',
      RETRY_BASE_MS: '5000',
      RETRY_CAP_MS: '1000',
      RATE_LIMIT_INTERVAL_MS: '50',
      GHL_BASE_URL: 'ftp://example.com',
      LOG_LEVEL: 'loud',
    });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    const text = problems.join('\n');
    for (const variable of [
      'REDIS_URL',
      'WORKER_CONCURRENCY',
      'RETRY_ATTEMPTS',
      'RATE_LIMIT_INTERVAL_MS',
      'GHL_BASE_URL',
      'LOG_LEVEL',
      'GHL_TOKEN',
      'GHL_LOCATION_ID',
      'GHL_LOCATION_TOKENS: entry 2',
      'GHL_LOCATION_TOKENS: entry 3',
      'GHL_LOCATION_TOKENS: entry 4',
    ]) {
      expect(text).toContain(variable);
    }
    for (const secret of ['secret with spaces', 'pit-secret-a', 'redis-password'])
      expect(text).not.toContain(secret);
  });

  it('When METRICS_PORT is 0 and METRICS_HOST and LOG_FORMAT are set, then they are read; a port above 65535 is a problem', () => {
    const result = loadConfig({
      ...SINGLE,
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      LOG_FORMAT: 'PRETTY',
    });
    expect(result.ok && [result.config.metrics, result.config.logFormat]).toEqual([
      { port: 0, host: '127.0.0.1' },
      'pretty',
    ]);
    expect(loadConfig({ ...SINGLE, METRICS_PORT: '65536' })).toEqual({
      ok: false,
      problems: ['METRICS_PORT: must be a whole number from 0 to 65535'],
    });
  });

  it('When QUEUE_PREFIX is unset, then the worker uses the prefix the queue package defaults to', () => {
    expect(loadConfig(SINGLE)).toMatchObject({ ok: true, config: { queuePrefix: DEFAULT_QUEUE_PREFIX } });
  });

  it('When RETRY_BASE_MS exceeds RETRY_CAP_MS, then that is a problem', () => {
    const result = loadConfig({ ...SINGLE, RETRY_BASE_MS: '5000', RETRY_CAP_MS: '1000' });
    expect(result).toEqual({ ok: false, problems: ['RETRY_BASE_MS: must not be greater than RETRY_CAP_MS'] });
  });

  it('When no credential source is set, then the problem names both ways to give one', () => {
    const result = loadConfig({});
    expect(result.ok ? [] : result.problems).toEqual([
      expect.stringContaining('GHL_TOKEN and GHL_LOCATION_ID'),
    ]);
    expect(result.ok ? '' : result.problems.join()).toContain('GHL_LOCATION_TOKENS');
  });

  it('When one location is given two different tokens, then that is a problem', () => {
    const result = loadConfig({ ...SINGLE, GHL_LOCATION_TOKENS: 've9EPM428h8vShlRW1KT=pit-other' });
    expect(result.ok ? [] : result.problems).toEqual([expect.stringContaining('two different tokens')]);
  });

  it('When REDIS_URL names a Redis Cluster, then QUEUE_PREFIX must carry a hash tag, and the logged URL hides the password', () => {
    const cluster = 'redis+cluster://:redis-password@127.0.0.1:7000,127.0.0.1:7001';
    expect(loadConfig({ ...SINGLE, REDIS_URL: cluster })).toEqual({
      ok: false,
      problems: [expect.stringContaining('QUEUE_PREFIX: needs a Redis Cluster hash tag')],
    });
    const result = loadConfig({ ...SINGLE, REDIS_URL: cluster, QUEUE_PREFIX: '{closeloop}' });
    if (!result.ok) throw new Error(result.problems.join());
    expect(result.config).toMatchObject({ redisUrl: cluster, queuePrefix: '{closeloop}' });
    expect(describeConfig(result.config)).toMatchObject({
      redisUrl: 'redis+cluster://:***@127.0.0.1:7000,127.0.0.1:7001',
    });
  });

  it('When the configuration is described for the start-up log, then it holds no token and no Redis password', () => {
    const result = loadConfig({ ...SINGLE, REDIS_URL: 'redis://:redis-password@127.0.0.1:6380' });
    if (!result.ok) throw new Error(result.problems.join());
    const text = JSON.stringify(describeConfig(result.config));
    expect(text).not.toContain('pit-single-secret');
    expect(text).not.toContain('redis-password');
    expect(text).toContain('ve9EPM428h8vShlRW1KT');
  });

  it.each([
    ['72h', 72 * 3_600_000],
    ['30m', 1_800_000],
    ['90s', 90_000],
    ['3d', 3 * 86_400_000],
    ['5000', 5_000],
  ])('When JOB_MAX_AGE is %s, then jobs may wait %i ms', (value, ms) => {
    const result = loadConfig({ ...SINGLE, JOB_MAX_AGE: value });
    expect(result.ok && result.config.jobMaxAgeMs).toBe(ms);
  });

  it('When JOB_MAX_AGE is not a duration, then the worker refuses to start naming it', () => {
    const result = loadConfig({ ...SINGLE, JOB_MAX_AGE: 'soon' });
    expect(result.ok ? [] : result.problems).toEqual([expect.stringContaining('JOB_MAX_AGE')]);
  });
});
