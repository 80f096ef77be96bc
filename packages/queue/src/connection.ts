import { Redis, type RedisOptions } from 'ioredis';

/**
 * One place that knows how each role talks to Redis (BullMQ docs, going-to-production.md):
 * - `producer` (HTTP handlers): fail fast instead of queueing commands while Redis is away, so a
 *   request gets a 503 within a second instead of hanging (failing-fast-when-redis-is-down.md;
 *   hang reports bullmq#982, #995). `commandTimeout` also covers a Redis that accepts the
 *   connection but does not answer.
 * - `worker`: `maxRetriesPerRequest: null`, required by BullMQ for blocking connections; it waits
 *   for Redis to come back instead of failing jobs.
 */
export type ConnectionRole = 'producer' | 'worker';

export function createRedisConnection(url: string, role: ConnectionRole, options: RedisOptions = {}): Redis {
  const roleOptions: RedisOptions =
    role === 'producer'
      ? {
          enableOfflineQueue: false,
          maxRetriesPerRequest: 0,
          commandTimeout: 1_000,
          connectTimeout: 1_000,
          // ioredis 5.11.1 keeps a `disconnectTimeout` timer (2 s by default) alive when the producer is
          // closed during an outage, which holds the process open that long after shutdown.
          disconnectTimeout: 200,
          // Reconnect quickly and forever: the receiver must work again as soon as Redis is back.
          retryStrategy: (times) => Math.min(100 * times, 1_000),
        }
      : {
          maxRetriesPerRequest: null,
          retryStrategy: (times) => Math.min(200 * times, 2_000),
        };
  return new Redis(url, { ...roleOptions, ...options });
}
