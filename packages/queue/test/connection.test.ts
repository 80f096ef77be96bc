import { describe, expect, it } from '@jest/globals';
import { testRedisUrl } from '@closeloop/test-support';
import { Cluster, Redis } from 'ioredis';
import { createRedisConnection } from '../src/index.js';

/**
 * How createRedisConnection maps a role onto ioredis, for one node and for a cluster URL. The cluster
 * connections are lazy and never connect here: e2e/test/redis-cluster.test.ts runs the processes on a
 * real three-node cluster.
 */
describe('createRedisConnection', () => {
  it('When REDIS_URL is redis://, then it is one ioredis connection with the role’s options', async () => {
    const redis = createRedisConnection(testRedisUrl(), 'worker');
    try {
      expect(redis).toBeInstanceOf(Redis);
      expect(await redis.ping()).toBe('PONG');
      expect((redis as Redis).options).toMatchObject({ maxRetriesPerRequest: null });
    } finally {
      redis.disconnect();
    }
    const producer = createRedisConnection(testRedisUrl(), 'producer', { lazyConnect: true }) as Redis;
    expect(producer.options).toMatchObject({ enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    producer.disconnect();
  });

  it('When REDIS_URL is redis+cluster://, then it is an ioredis Cluster on the seed nodes, the options split between cluster and nodes', () => {
    const cluster = createRedisConnection(
      'redis+cluster://:s3cret@127.0.0.1:7000,127.0.0.1:7001',
      'producer',
      {
        lazyConnect: true,
      },
    );
    expect(cluster).toBeInstanceOf(Cluster);
    const { options } = cluster as Cluster;
    // ioredis keeps the seed nodes in a private field; reading it is the only way to see them unconnected.
    expect((cluster as unknown as { startupNodes: unknown }).startupNodes).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: '127.0.0.1', port: 7001 },
    ]);
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      lazyConnect: true,
      redisOptions: { password: 's3cret', maxRetriesPerRequest: 0, commandTimeout: 1_000 },
    });
    expect(options.clusterRetryStrategy?.(3)).toBe(300);
    expect(options.redisOptions).not.toHaveProperty('retryStrategy');
    expect(options.redisOptions).not.toHaveProperty('tls');
    cluster.disconnect();
  });

  it('When the worker connects to a rediss+cluster:// URL, then BullMQ finds maxRetriesPerRequest null on the nodes, and TLS is on', () => {
    const cluster = createRedisConnection('rediss+cluster://app:pw@redis.internal:6380', 'worker', {
      lazyConnect: true,
    }) as Cluster;
    expect(cluster.options.redisOptions).toMatchObject({
      maxRetriesPerRequest: null,
      username: 'app',
      password: 'pw',
      tls: {},
    });
    expect(cluster.options.enableOfflineQueue).toBe(true);
    expect(typeof cluster.options.dnsLookup).toBe('function');
    cluster.disconnect();
  });

  it('When a cluster URL is malformed, then it throws without repeating the URL', () => {
    expect(() => createRedisConnection('redis+cluster://:s3cret@127.0.0.1:7000/5', 'worker')).toThrow(
      'REDIS_URL: Redis Cluster has only database 0: end the cluster URL after the hosts',
    );
  });
});
