import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { startRedisServer, testRedisUrl } from '../src/index.js';

describe('test Redis', () => {
  it('When the suite runs, then a real Redis answers at REDIS_URL', async () => {
    const client = new Redis(testRedisUrl());
    try {
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });

  it('When a local redis-server is stopped and restarted, then it answers again on the same port', async () => {
    const redis = await startRedisServer();
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    client.on('error', () => undefined);
    try {
      await client.set('k', 'v');
      await redis.restart();
      expect(await client.ping()).toBe('PONG');
    } finally {
      client.disconnect();
      await redis.dispose();
    }
  });
});
