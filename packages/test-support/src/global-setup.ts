import { Redis } from 'ioredis';
// `.ts` on purpose: jest loads global setup through require() without moduleNameMapper, so the
// `.js`→`.ts` mapping the tests use does not apply here.
import { hasRedisServerBinary, startRedisServer } from './redis-server.ts';

/**
 * Jest global setup: provides one real Redis for the whole run (docs/architecture.md, "Tests and real services"), in this order:
 * REDIS_URL if set; else a `redis-server` on PATH on a free port in a temp folder; else
 * testcontainers where a Docker engine answers; else a failure naming the three ways.
 * Child test workers inherit process.env.REDIS_URL.
 */
export default async function globalSetup(): Promise<void> {
  const given = process.env.REDIS_URL;
  if (given) {
    await assertReachable(given);
    return;
  }
  if (hasRedisServerBinary()) {
    const redis = await startRedisServer();
    process.env.REDIS_URL = redis.url;
    globalThis.__closeloopStopRedis = () => redis.dispose();
    return;
  }
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7.2').start();
    process.env.REDIS_URL = container.getConnectionUrl();
    globalThis.__closeloopStopRedis = async () => {
      await container.stop();
    };
    return;
  } catch (error) {
    throw new Error(
      'The tests need a real Redis. Provide one of: (1) REDIS_URL=redis://host:port, ' +
        '(2) a `redis-server` binary on PATH (Debian: apt-get install redis-server), ' +
        `(3) a running Docker engine for testcontainers. Docker attempt failed: ${String(error)}`,
      { cause: error },
    );
  }
}

async function assertReachable(url: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(`REDIS_URL=${redactUrl(url)} does not answer: ${String(error)}`, { cause: error });
  } finally {
    client.disconnect();
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

declare global {
  var __closeloopStopRedis: (() => Promise<void>) | undefined;
}
